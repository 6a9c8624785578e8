package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	gomail "github.com/wneessen/go-mail"
)

// Email is a message ready to send: its envelope and its bytes. The bytes are final (a DKIM
// signature covers them), so transports send them as they are.
type Email struct {
	// From is the envelope sender (MAIL FROM), a bare address.
	From string
	// To is the envelope recipient (RCPT TO), a bare address: one per email.
	To string
	// Data is the message, RFC 5322 with CRLF line endings.
	Data []byte
}

// EmailOf writes m out as an Email, with the address of its From header as the envelope
// sender and the address of its one To header as the recipient.
func EmailOf(m *gomail.Msg) (Email, error) {
	from, to := m.GetFrom(), m.GetTo()
	if len(from) != 1 || len(to) != 1 || len(m.GetCc())+len(m.GetBcc()) != 0 {
		return Email{}, fmt.Errorf("email from %v to %v: want one sender and one recipient", from, to)
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return Email{}, fmt.Errorf("write email: %w", err)
	}
	return Email{From: from[0].Address, To: to[0].Address, Data: b.Bytes()}, nil
}

// Transport delivers emails: to an SMTP server, or as files.
type Transport interface {
	// Send delivers e. An error marked with broker.Permanent means that the message was
	// refused for good (an SMTP 5xx reply) and sending it again cannot help; any other error
	// is transient. A *SMTPError tells which step failed (see SMTPError.RecipientRejected).
	// Send is safe for concurrent use.
	Send(ctx context.Context, e Email) error
	// Check reports whether the transport can deliver now (the SMTP server answers and
	// accepts the configured credentials; the mail directory is writable), for the
	// service's readiness. It is cheap enough to call on every readiness probe and is safe
	// for concurrent use.
	Check(ctx context.Context) error
	// Close releases the transport's connections.
	Close() error
}

// BatchSender is a Transport that delivers several emails at once more cheaply than one by
// one (the file transport: one sync of the disk for all). SendBatch returns one error per
// email, each with Send's meaning.
type BatchSender interface {
	SendBatch(ctx context.Context, es []Email) []error
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
func (p *SMTPPool) Send(ctx context.Context, e Email) error {
	select {
	case t := <-p.free:
		defer func() { p.free <- t }()
		return t.Send(ctx, e)
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
