package mailer

import (
	"context"
	"fmt"
	"log/slog"

	gomail "github.com/wneessen/go-mail"
)

// Transport delivers rendered messages: to an SMTP server, or as files.
type Transport interface {
	// Send delivers m. An error marked with broker.Permanent means that the message was
	// refused for good (an SMTP 5xx reply) and sending it again cannot help; any other error
	// is transient. Send is safe for concurrent use.
	Send(ctx context.Context, m *gomail.Msg) error
	// Close releases the transport's connections.
	Close() error
}

// NewTransport returns the transport cfg asks for: SMTP to cfg.SMTPURL when it is set, else
// .eml files under cfg.MailDir.
func NewTransport(cfg Config, log *slog.Logger) (Transport, error) {
	if cfg.SMTPURL == "" {
		if cfg.MailDir == "" {
			return nil, fmt.Errorf("mail transport: neither an SMTP URL nor a mail directory is configured")
		}
		return NewFileTransport(cfg.MailDir)
	}
	sc, err := ParseSMTPURL(cfg.SMTPURL)
	if err != nil {
		return nil, err
	}
	sc.RootCAs = cfg.SMTPRootCAs
	return NewSMTPTransport(sc, log)
}
