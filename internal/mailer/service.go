// Package mailer is the email-sender service. It consumes email.send messages from the broker,
// renders them from embedded text and HTML templates, signs them with DKIM when configured,
// sends them through a Transport (SMTP, or .eml files in the embedded mode), and reports each
// outcome as an email.result message through its own outbox. A sent-message log keyed by
// idempotency key makes a request delivered twice send one email. An address the SMTP server
// rejects for good is suppressed: no later email to it is attempted. It serves no public
// API: its handler answers only health, readiness and metrics.
package mailer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/envconf"
	"github.com/eventpost/eventpost/internal/platform/httpx"
	"github.com/eventpost/eventpost/internal/platform/outbox"
	"github.com/eventpost/eventpost/internal/platform/retry"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// Config configures the email-sender.
// A field with an env tag is read from EVENTPOST_MAILER_<tag> by the host process (see
// envconf), or from the tag's whole name when it is absolute.
type Config struct {
	// From is the From header of every email (EVENTPOST_MAIL_FROM).
	From string
	// PublicURL is the web address event links in emails start with ("<PublicURL>/events/<id>").
	PublicURL string
	// MaxAttempts is the delivery attempt at which a transient failure is recorded as a
	// permanent one.
	MaxAttempts int `env:"MAX_ATTEMPTS,positive"`
	// ClaimLease is how long a delivery's claim of an idempotency key keeps other deliveries
	// of the key out after it was taken or last renewed. A live sender renews it every third
	// of the lease while it sends, however long the send takes; a crashed sender's claim is
	// taken over one lease after its last renewal, by a delivery that waits for it (see
	// HandleSend).
	ClaimLease time.Duration `env:"CLAIM_LEASE,positive"`
	// SendTimeout bounds one send through the transport.
	SendTimeout time.Duration `env:"SEND_TIMEOUT,positive"`
	// MailDir is where NewTransport's file transport writes .eml files (<data dir>/mail).
	MailDir string
	// SMTPURL (EVENTPOST_SMTP_URL), when set, makes NewTransport send over SMTP; see
	// ParseSMTPURL.
	SMTPURL string
	// SMTPRootCAs, when not nil, is the pool the SMTP server's certificate is verified with.
	SMTPRootCAs *x509.CertPool
	// SMTPConnections is how many connections NewTransport keeps to the SMTP server at most,
	// so that sends of concurrent deliveries do not wait for each other. Default 4.
	SMTPConnections int `env:"SMTP_CONNECTIONS,positive"`
	// DKIMDomain is the signing domain (d=) of the DKIM signature (RFC 6376) every email
	// carries when DKIMDomain, DKIMSelector and DKIMKeyFile are all set; New refuses some
	// but not all of them.
	DKIMDomain string `env:"EVENTPOST_DKIM_DOMAIN,absolute"`
	// DKIMSelector is the selector (s=): the public key is published in DNS as a TXT record
	// at <selector>._domainkey.<domain>.
	DKIMSelector string `env:"EVENTPOST_DKIM_SELECTOR,absolute"`
	// DKIMKeyFile is a PEM file holding the private key: PKCS #8 RSA or Ed25519 ("PRIVATE
	// KEY", as `openssl genpkey` writes it) or PKCS #1 RSA ("RSA PRIVATE KEY"). It should be
	// readable by its owner only; New logs a warning otherwise.
	DKIMKeyFile string `env:"EVENTPOST_DKIM_KEY_FILE,absolute"`
}

// DefaultConfig returns the defaults: mail from EventPost <no-reply@eventpost.local>, links to
// http://localhost:8080, 10 attempts, a 5-second claim lease and a 10-second send timeout. The
// lease is renewed while a send goes on, so a live sender is never overtaken; a killed sender's
// claim is taken over at most 5.25 seconds after its last renewal (the lease, then the 250 ms
// a waiting delivery polls the claim at), by the redelivery of its message.
func DefaultConfig() Config {
	return Config{
		From:            "EventPost <no-reply@eventpost.local>",
		PublicURL:       "http://localhost:8080",
		MaxAttempts:     10,
		ClaimLease:      5 * time.Second,
		SendTimeout:     10 * time.Second,
		SMTPConnections: 4,
	}
}

// Deps are the email-sender's dependencies.
type Deps struct {
	// Store is the sent-message log and outbox. Required.
	Store Store
	// Common: Registry is required.
	svcdeps.Common
	// Transport delivers the emails (see NewTransport). Required; the caller closes it.
	Transport Transport
}

// Service is the email-sender.
type Service struct {
	cfg       Config
	store     Store
	outbox    outbox.Notifier
	log       *slog.Logger
	now       func() time.Time
	transport Transport
	render    atomic.Pointer[Renderer] // replaced by SetFrom
	dkim      *dkimSigner              // nil: emails are not signed
	handler   http.Handler
	metrics   serviceMetrics
	// maxAttempts is Config.MaxAttempts, which SetMaxAttempts changes while the service runs.
	maxAttempts atomic.Int64
}

type serviceMetrics struct {
	sent, failed, transient, duplicates, suppressed, takenOver *prometheus.CounterVec
	duration                                                   prometheus.Histogram
}

// New returns the email-sender. Zero fields of cfg take their DefaultConfig values.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Store == nil || deps.Transport == nil || deps.Registry == nil {
		return nil, errors.New("mailer: Store, Transport and Registry are required")
	}
	cfg = envconf.WithDefaults(cfg, DefaultConfig())
	r, err := NewRenderer(cfg.From, cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	c := deps.WithDefaults()
	signer, err := newDKIMSigner(cfg, c.Log)
	if err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	s := &Service{
		cfg: cfg, store: deps.Store, outbox: c.Outbox, log: c.Log, now: c.Now, transport: deps.Transport,
		dkim: signer,
	}
	s.render.Store(r)
	s.maxAttempts.Store(int64(cfg.MaxAttempts))
	byKind := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"kind"})
	}
	s.metrics = serviceMetrics{
		sent:       byKind("emails_sent_total", "Emails sent, by kind."),
		failed:     byKind("emails_failed_total", "Emails that failed for good, by kind."),
		transient:  byKind("email_send_transient_errors_total", "Transient send failures left to a later delivery, by kind."),
		duplicates: byKind("email_duplicate_deliveries_total", "Send requests acknowledged without sending because their key was settled, by kind."),
		suppressed: byKind("emails_suppressed_total", "Emails not attempted because the server had rejected their address for good, by kind."),
		takenOver: byKind("email_claims_taken_over_total",
			"Claims taken over from a delivery that stopped renewing them (its sender was killed or hung), by kind: each email may have been sent twice."),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "email_send_duration_seconds",
			Help:    "Time the transport took to send one email, successful or not.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	for _, c := range []prometheus.Collector{
		s.metrics.sent, s.metrics.failed, s.metrics.transient, s.metrics.duplicates, s.metrics.suppressed,
		s.metrics.takenOver, s.metrics.duration,
	} {
		if err := deps.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("mailer metrics: %w", err)
		}
	}

	s.handler = httpx.Routes(nil, nil, httpx.Options{
		Log: s.log, Registry: deps.Registry,
		// No service calls the email-sender: a verifier that trusts no caller answers 401 to
		// everything but the probes.
		Verifier: svcauth.NewVerifier("mailer", nil, nil),
		Checks: []httpx.Check{
			httpx.DatabaseCheck(s.store.Ping),
			{Name: httpx.CheckMailTransport, Check: s.transport.Check},
		},
	})
	return s, nil
}

// Handler returns the service's HTTP handler: /healthz, /readyz and /metrics only.
func (s *Service) Handler() http.Handler { return s.handler }

// Consumers returns the email.send consumer.
func (s *Service) Consumers() []broker.Consumer {
	return []broker.Consumer{{
		Queue:  messages.QueueMailer,
		Types:  []string{messages.TypeEmailSend},
		Handle: s.HandleSend,
	}}
}

// Run has no background work to do: it waits for ctx and returns nil.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// HandleSend handles one email.send delivery. It sends the email unless its idempotency key
// is settled, records the outcome and queues the email.result in one transaction. It returns
// nil once the outcome is recorded (sent, or failed for good), a transient error to have the
// message delivered again later, and a permanent error for a payload it cannot read.
//
// A delivery that finds another one's claim on its key (the message was redelivered because
// its first consumer was killed, or lost its broker connection) waits for that claim, for up to
// one and a half leases: the other delivery settles the key (this one is then a duplicate) or,
// when it is dead, its claim lapses and this one takes it over and sends. Only a claim still
// live after that wait has the message delivered again later.
func (s *Service) HandleSend(ctx context.Context, m broker.Message) error {
	return broker.Payload(s.send)(ctx, m)
}

// send is HandleSend once the payload is decoded.
func (s *Service) send(ctx context.Context, m broker.Message, req messages.EmailSend) error {
	if req.IdempotencyKey == "" {
		return broker.Permanent(fmt.Errorf("email.send message %s has no idempotency key", m.ID))
	}
	kind := kindLabel(req.Kind)
	log := s.log.With("idempotency_key", req.IdempotencyKey, "kind", req.Kind, "message_id", m.ID)

	token, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("claim token: %w", err)
	}
	rec, err := s.claim(ctx, req, token.String(), log)
	if err != nil {
		if errors.Is(err, ErrClaimed) {
			s.metrics.transient.WithLabelValues(kind).Inc()
			log.InfoContext(ctx, "email still being sent by another delivery; retry later")
		}
		return fmt.Errorf("send email %s: %w", req.IdempotencyKey, err)
	}
	if rec.State != StateSending {
		s.metrics.duplicates.WithLabelValues(kind).Inc()
		log.InfoContext(ctx, "email already handled; not sent again", "state", rec.State)
		return nil
	}
	if !rec.ClaimedAt.Equal(rec.CreatedAt) {
		// The key was claimed before, by a delivery that neither settled it nor renewed its
		// claim: that sender was killed or hung, perhaps after the SMTP server took the email.
		s.metrics.takenOver.WithLabelValues(kind).Inc()
		log.WarnContext(ctx, "claim of a dead delivery taken over; the email may be sent twice",
			"first_claimed_at", rec.CreatedAt)
	}

	now := s.now()
	email, messageID, err := s.prepare(req, now)
	if err != nil {
		log.WarnContext(ctx, "email cannot be rendered", "err", err)
		return s.settle(ctx, req, Outcome{State: StateFailed, Error: err.Error()})
	}
	switch sup, err := s.store.Suppression(ctx, email.To); {
	case err == nil:
		s.metrics.suppressed.WithLabelValues(kind).Inc()
		return s.settle(ctx, req, Outcome{State: StateFailed, Error: fmt.Sprintf(
			"the address %s is suppressed: the mail server rejected it permanently on %s: %s",
			email.To, sup.At.UTC().Format(suppressedLayout), sup.Reason)})
	case !errors.Is(err, ErrNotSuppressed):
		s.release(ctx, req, token.String())
		return fmt.Errorf("send email %s: %w", req.IdempotencyKey, err)
	}

	sendCtx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	sendCtx, endSpan := startSend(sendCtx, req, s.transport)
	stopRenewing := s.renew(ctx, req.IdempotencyKey, token.String(), log)
	start := time.Now()
	err = s.transport.Send(sendCtx, email)
	stopRenewing()
	endSpan(err)
	cancel()
	s.metrics.duration.Observe(time.Since(start).Seconds())
	return s.outcome(ctx, m, req, token.String(), email, messageID, err)
}

// claimPoll is how often a delivery that waits for another one's claim tries again: a
// twentieth of the lease (250 ms by default), so a dead sender's claim is taken over at most
// that long after it lapsed.
func claimPoll(lease time.Duration) time.Duration { return max(lease/20, time.Millisecond) }

// claimWait is how long a delivery waits for another one's claim before it leaves the key to a
// later delivery: a lease, in which a dead sender's claim lapses, and half a lease more for
// the poll, the database and clocks that differ between replicas.
func claimWait(lease time.Duration) time.Duration { return lease + lease/2 }

// claim claims req's key for token and returns its record (see Store.Claim). While another
// delivery holds a live claim of the key, it tries again every claimPoll for up to claimWait,
// and returns ErrClaimed only when the claim is still held then, or ctx is done.
func (s *Service) claim(ctx context.Context, req messages.EmailSend, token string, log *slog.Logger) (Record, error) {
	c := Claim{Key: req.IdempotencyKey, Kind: req.Kind, Token: token, Lease: s.cfg.ClaimLease}
	deadline := time.Now().Add(claimWait(c.Lease))
	for waited := false; ; waited = true {
		c.At = s.now()
		rec, err := s.store.Claim(ctx, c)
		if !errors.Is(err, ErrClaimed) || !time.Now().Before(deadline) {
			return rec, err
		}
		if !waited {
			log.InfoContext(ctx, "email being sent by another delivery; waiting for its claim to be settled or to lapse")
		}
		select {
		case <-ctx.Done():
			return Record{}, fmt.Errorf("%w (stopped waiting: %w)", err, context.Cause(ctx))
		case <-time.After(claimPoll(c.Lease)):
		}
	}
}

// renew renews the claim of key held by token every third of the lease until the function it
// returns is called, which waits for the renewals to stop. A renewal that finds the claim
// taken over ends them: the send goes on, and another delivery may send the email too.
func (s *Service) renew(ctx context.Context, key, token string, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(max(s.cfg.ClaimLease/3, time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			err := s.store.Renew(ctx, key, token, s.now())
			switch {
			case errors.Is(err, ErrNotClaimed):
				log.WarnContext(ctx, "claim lost during the send: another delivery took it over and may send the email too")
				return
			case err != nil && ctx.Err() == nil:
				log.WarnContext(ctx, "renew claim", "err", err)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// suppressedLayout shows when an address was suppressed.
const suppressedLayout = "2006-01-02 15:04 MST"

// prepare renders req, dated now, into the email to send, signed when DKIM is configured,
// and returns it with its Message-ID. Its errors are permanent: rendering is deterministic.
func (s *Service) prepare(req messages.EmailSend, now time.Time) (Email, string, error) {
	msg, messageID, err := s.render.Load().Render(req, now)
	if err != nil {
		return Email{}, "", err
	}
	email, err := EmailOf(msg)
	if err != nil {
		return Email{}, "", err
	}
	if s.dkim != nil {
		if email.Data, err = s.dkim.sign(email.Data); err != nil {
			return Email{}, "", err
		}
	}
	return email, messageID, nil
}

// outcome records what the send of email ended in (err): sent, failed for good (with the
// address suppressed when the server rejected it), or, for a transient failure before the
// last attempt, nothing: the claim is released and the error returned for a later delivery.
func (s *Service) outcome(ctx context.Context, m broker.Message, req messages.EmailSend, token string, email Email, messageID string, err error) error {
	log := s.log.With("idempotency_key", req.IdempotencyKey, "kind", req.Kind, "message_id", m.ID)
	attempt := max(m.Attempt, 1)
	var se *SMTPError
	switch {
	case err == nil:
		return s.settle(ctx, req, Outcome{State: StateSent, MessageID: messageID})
	case errors.As(err, &se) && se.RecipientRejected():
		log.WarnContext(ctx, "address rejected for good; suppressed", "err", err)
		return s.settle(ctx, req, Outcome{
			State: StateFailed,
			Error: fmt.Sprintf("the mail server rejected the address %s permanently (at %s): %s", email.To, se.Step, se.Reply),
			Suppress: &Suppression{
				Address: email.To, Reason: fmt.Sprintf("%s (at %s)", se.Reply, se.Step), At: s.now().UTC(),
			},
		})
	case broker.IsPermanent(err):
		log.WarnContext(ctx, "email refused for good", "err", err)
		return s.settle(ctx, req, Outcome{State: StateFailed, Error: err.Error()})
	case attempt >= int(s.maxAttempts.Load()):
		log.WarnContext(ctx, "email failed on its last attempt", "attempt", attempt, "err", err)
		return s.settle(ctx, req, Outcome{
			State: StateFailed, Error: fmt.Sprintf("gave up after %d attempts: %v", attempt, err),
		})
	}
	s.metrics.transient.WithLabelValues(kindLabel(req.Kind)).Inc()
	log.WarnContext(ctx, "email send failed; will retry", "attempt", attempt, "err", err)
	s.release(ctx, req, token)
	return fmt.Errorf("send email %s (attempt %d): %w", req.IdempotencyKey, attempt, err)
}

// release gives up the claim of req's key held by token, so that a later delivery can
// claim it at once.
func (s *Service) release(ctx context.Context, req messages.EmailSend, token string) {
	if err := s.store.Release(context.WithoutCancel(ctx), req.IdempotencyKey, token); err != nil {
		s.log.WarnContext(ctx, "release claim", "idempotency_key", req.IdempotencyKey, "err", err)
	}
}

// maxErrorLen caps the failure reason kept and published.
const maxErrorLen = 1000

// How settle retries recording an outcome: completeAttempts tries, waiting completeBackoff
// after the first failure, doubling after each further one.
const (
	completeAttempts = 3
	completeBackoff  = 100 * time.Millisecond
)

// settle records the outcome o of req and queues its email.result, in one transaction. It
// goes on even when ctx is cancelled: an email that went out must be recorded.
func (s *Service) settle(ctx context.Context, req messages.EmailSend, o Outcome) error {
	ctx = context.WithoutCancel(ctx)
	o.Key, o.At = req.IdempotencyKey, s.now().UTC()
	if len(o.Error) > maxErrorLen {
		o.Error = o.Error[:maxErrorLen]
	}
	status := messages.ResultSent
	if o.State == StateFailed {
		status = messages.ResultFailed
	}
	result, err := broker.NewMessage(ctx, messages.TypeEmailResult, messages.EmailResult{
		IdempotencyKey: req.IdempotencyKey, Kind: req.Kind, ReminderID: req.ReminderID,
		Status: status, Error: o.Error, At: o.At,
	})
	if err != nil {
		return err
	}
	// A failure here, after an email went out, would have a later delivery send it again once
	// the claim lapses: try a few times before giving up. ctx is not cancelled by then (see
	// above), so the waits run their course.
	for try := 1; ; try++ {
		err = s.store.Complete(ctx, o, result)
		if err == nil || errors.Is(err, ErrNotClaimed) || try == completeAttempts {
			break
		}
		retry.Sleep(ctx, retry.Backoff(completeBackoff, time.Second, try))
	}
	log := s.log.With("idempotency_key", req.IdempotencyKey, "kind", req.Kind)
	switch {
	case errors.Is(err, ErrNotClaimed):
		// The claim lapsed and another delivery recorded the outcome first.
		log.WarnContext(ctx, "email outcome already recorded by another delivery", "state", o.State)
		return nil
	case err != nil:
		return fmt.Errorf("record email %s: %w", req.IdempotencyKey, err)
	}
	s.outbox.Notify()
	if o.State == StateSent {
		s.metrics.sent.WithLabelValues(kindLabel(req.Kind)).Inc()
		log.InfoContext(ctx, "email sent", "mail_message_id", o.MessageID)
	} else {
		s.metrics.failed.WithLabelValues(kindLabel(req.Kind)).Inc()
		log.WarnContext(ctx, "email failed", "reason", o.Error)
	}
	return nil
}

// kindLabel bounds the kind label's values to the known kinds.
func kindLabel(k messages.EmailKind) string {
	switch k {
	case messages.EmailWelcome, messages.EmailReminder, messages.EmailEventChanged, messages.EmailEventCancelled,
		messages.EmailPasswordReset, messages.EmailAccountLocked, messages.EmailConfirm, messages.EmailChanged,
		messages.EmailConsentRequest, messages.EmailWaitlistPromoted:
		return string(k)
	}
	return "unknown"
}
