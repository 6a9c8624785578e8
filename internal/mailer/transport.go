package mailer

import (
	"context"
	"errors"
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
	// Check reports whether the transport can deliver now (the SMTP server answers and
	// accepts the configured credentials; the mail directory is writable), for the
	// service's readiness. It is cheap enough to call on every readiness probe and is safe
	// for concurrent use.
	Check(ctx context.Context) error
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
		return NewFileTransport(cfg.MailDir, log)
	}
	sc, err := ParseSMTPURL(cfg.SMTPURL)
	if err != nil {
		return nil, err
	}
	sc.RootCAs = cfg.SMTPRootCAs
	n := cfg.SMTPConnections
	if n <= 0 {
		n = DefaultConfig().SMTPConnections
	}
	return NewSMTPPool(sc, n, log)
}

// SMTPPool spreads sends over up to n SMTP connections, each an SMTPTransport: a send takes a
// free connection, waiting for one when all are busy. Connections are opened as sends need
// them and closed when idle, as SMTPTransport does.
type SMTPPool struct {
	free chan *SMTPTransport
	all  []*SMTPTransport
}

var _ Transport = (*SMTPPool)(nil)

// NewSMTPPool returns a pool of n connections (at least one) to the server of cfg.
func NewSMTPPool(cfg SMTPConfig, n int, log *slog.Logger) (*SMTPPool, error) {
	n = max(n, 1)
	p := &SMTPPool{free: make(chan *SMTPTransport, n)}
	for range n {
		t, err := NewSMTPTransport(cfg, log)
		if err != nil {
			return nil, err
		}
		p.all = append(p.all, t)
		p.free <- t
	}
	return p, nil
}

// Send implements Transport.
func (p *SMTPPool) Send(ctx context.Context, m *gomail.Msg) error {
	select {
	case t := <-p.free:
		defer func() { p.free <- t }()
		return t.Send(ctx, m)
	case <-ctx.Done():
		return fmt.Errorf("smtp send: waiting for a connection: %w", context.Cause(ctx))
	}
}

// Check implements Transport: every connection goes to the same server, so the check of
// the first one tells for all.
func (p *SMTPPool) Check(ctx context.Context) error { return p.all[0].Check(ctx) }

// Close implements Transport: it closes every connection.
func (p *SMTPPool) Close() error {
	var errs []error
	for _, t := range p.all {
		errs = append(errs, t.Close())
	}
	return errors.Join(errs...)
}
