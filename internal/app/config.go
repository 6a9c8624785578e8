package app

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config is the all-in-one mode's configuration, read from the environment by ReadConfig.
type Config struct {
	// HTTPAddr is the gateway's listen address (EVENTPOST_HTTP_ADDR, default ":8080").
	HTTPAddr string
	// DataDir holds one SQLite database per service and, without SMTP, the mail/ folder
	// (EVENTPOST_DATA_DIR, default "./data").
	DataDir string
	// PublicURL is the address users reach the gateway at, used for links in emails and
	// calendars (EVENTPOST_PUBLIC_URL, default http://localhost plus the HTTPAddr port).
	PublicURL string
	// SMTPURL sends mail over SMTP when set: smtp://[user:pass@]host:port?tls=none|starttls|tls
	// (EVENTPOST_SMTP_URL). Unset, mail is written as .eml files under DataDir/mail.
	SMTPURL string
	// MailFrom is the From address of every email (EVENTPOST_MAIL_FROM, default
	// "EventPost <no-reply@eventpost.local>").
	MailFrom string
	// LogLevel is debug, info, warn or error (EVENTPOST_LOG_LEVEL, default info).
	LogLevel slog.Level
	// RateLimit is the gateway's sustained requests per second per client address
	// (EVENTPOST_RATE_LIMIT, default 20); RateBurst its burst (EVENTPOST_RATE_BURST, default 40).
	RateLimit float64
	RateBurst int
	// ShutdownTimeout bounds the graceful shutdown (EVENTPOST_SHUTDOWN_TIMEOUT, default 15s).
	ShutdownTimeout time.Duration
}

// ReadConfig reads the configuration from getenv, applying defaults.
func ReadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		HTTPAddr:        or(getenv("EVENTPOST_HTTP_ADDR"), ":8080"),
		DataDir:         or(getenv("EVENTPOST_DATA_DIR"), "data"),
		PublicURL:       getenv("EVENTPOST_PUBLIC_URL"),
		SMTPURL:         getenv("EVENTPOST_SMTP_URL"),
		MailFrom:        or(getenv("EVENTPOST_MAIL_FROM"), "EventPost <no-reply@eventpost.local>"),
		RateLimit:       20,
		RateBurst:       40,
		ShutdownTimeout: 15 * time.Second,
	}
	if c.PublicURL == "" {
		port := c.HTTPAddr[strings.LastIndex(c.HTTPAddr, ":")+1:]
		c.PublicURL = "http://localhost:" + port
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if v := getenv("EVENTPOST_LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return c, fmt.Errorf("EVENTPOST_LOG_LEVEL: %w", err)
		}
	}
	if v := getenv("EVENTPOST_RATE_LIMIT"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			return c, fmt.Errorf("EVENTPOST_RATE_LIMIT: want a positive number, got %q", v)
		}
		c.RateLimit = f
	}
	if v := getenv("EVENTPOST_RATE_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("EVENTPOST_RATE_BURST: want a positive integer, got %q", v)
		}
		c.RateBurst = n
	}
	if v := getenv("EVENTPOST_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("EVENTPOST_SHUTDOWN_TIMEOUT: want a duration such as 15s, got %q", v)
		}
		c.ShutdownTimeout = d
	}
	return c, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
