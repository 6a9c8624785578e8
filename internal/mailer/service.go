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
	"slices"
	"sync"
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
		Queue:       messages.QueueMailer,
		Types:       []string{messages.TypeEmailSend},
		Handle:      s.HandleSend,
		HandleBatch: s.HandleSendBatch,
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
	return s.HandleSendBatch(ctx, []broker.Delivery{{Ctx: ctx, Message: m}})[0]
}

// HandleSendBatch handles email.send deliveries together, each as HandleSend would: their
// keys are claimed in one transaction, the emails rendered and sent side by side (up to
// sendWorkers at a time), and the outcomes recorded with their email.result messages in one
// transaction. A delivery that finds another one's claim on its key (or its key twice in the
// batch) waits for that claim as HandleSend does, while the rest of the batch goes on, and is
// sent afterwards, should the claim lapse.
func (s *Service) HandleSendBatch(ctx context.Context, ds []broker.Delivery) []error {
	sends := make([]*sending, len(ds))
	for i, d := range ds {
		sends[i] = s.open(d)
	}
	ready, waiting := s.claimAll(ctx, sends)
	var wg sync.WaitGroup
	for _, x := range waiting {
		wg.Go(func() {
			rec, err := s.claim(x.ctx, x.req, x.token, x.log)
			s.claimed(x, rec, err)
		})
	}
	s.sendAll(ready)
	s.settleAll(ctx, ready)
	wg.Wait()
	if len(waiting) > 0 {
		s.sendAll(waiting)
		s.settleAll(ctx, waiting)
	}
	errs := make([]error, len(sends))
	for i, x := range sends {
		errs[i] = x.err
	}
	return errs
}

// sending is one email.send delivery on its way through HandleSendBatch.
type sending struct {
	ctx   context.Context
	m     broker.Message
	req   messages.EmailSend
	log   *slog.Logger
	token string
	// claimed is set once the delivery holds the claim of its key; email and messageID once
	// it is rendered; outcome once the send ended in an outcome to record.
	claimed   bool
	email     Email
	messageID string
	outcome   *Outcome
	// err is the delivery's result once it is known (a transient error leaves the message
	// for a later delivery).
	err error
}

// open decodes d's request and draws the token of its claim.
func (s *Service) open(d broker.Delivery) *sending {
	x := &sending{ctx: d.Ctx, m: d.Message}
	if x.err = d.Decode(&x.req); x.err != nil {
		return x
	}
	if x.req.IdempotencyKey == "" {
		x.err = broker.Permanent(fmt.Errorf("email.send message %s has no idempotency key", d.ID))
		return x
	}
	x.log = s.log.With("idempotency_key", x.req.IdempotencyKey, "kind", x.req.Kind, "message_id", d.ID)
	token, err := uuid.NewV7()
	if err != nil {
		x.err = fmt.Errorf("claim token: %w", err)
		return x
	}
	x.token = token.String()
	return x
}

// claimAll claims the keys of the deliveries still under way: a single one as claim does,
// waiting for another delivery's claim; several in one ClaimBatch. It returns the deliveries
// it decided (ready) apart from those of a batch that found their key claimed by another
// delivery, or twice in the batch, which are left to wait for that claim (waiting).
func (s *Service) claimAll(ctx context.Context, sends []*sending) (ready, waiting []*sending) {
	var todo []*sending
	for _, x := range sends {
		if x.err == nil {
			todo = append(todo, x)
		}
	}
	if len(todo) == 1 {
		x := todo[0]
		rec, err := s.claim(x.ctx, x.req, x.token, x.log)
		s.claimed(x, rec, err)
		return sends, nil
	}
	var (
		cs    []Claim
		batch []*sending
		seen  = make(map[string]bool, len(todo))
	)
	for _, x := range todo {
		if seen[x.req.IdempotencyKey] {
			waiting = append(waiting, x) // its twin in the batch holds the claim
			continue
		}
		seen[x.req.IdempotencyKey] = true
		cs = append(cs, Claim{Key: x.req.IdempotencyKey, Kind: x.req.Kind, Token: x.token, At: s.now(), Lease: s.cfg.ClaimLease})
		batch = append(batch, x)
	}
	if len(cs) > 0 {
		recs, errs := s.store.ClaimBatch(ctx, cs)
		for i, x := range batch {
			if errors.Is(errs[i], ErrClaimed) {
				waiting = append(waiting, x)
				continue
			}
			s.claimed(x, recs[i], errs[i])
		}
	}
	for _, x := range sends {
		if !slices.Contains(waiting, x) {
			ready = append(ready, x)
		}
	}
	return ready, waiting
}

// claimed takes the outcome of the claim of x's key: held (the send goes on), settled before
// (a duplicate, acknowledged), or not had (err).
func (s *Service) claimed(x *sending, rec Record, err error) {
	kind := kindLabel(x.req.Kind)
	switch {
	case err != nil:
		if errors.Is(err, ErrClaimed) {
			s.metrics.transient.WithLabelValues(kind).Inc()
			x.log.InfoContext(x.ctx, "email still being sent by another delivery; retry later")
		}
		x.err = fmt.Errorf("send email %s: %w", x.req.IdempotencyKey, err)
	case rec.State != StateSending:
		s.metrics.duplicates.WithLabelValues(kind).Inc()
		x.log.InfoContext(x.ctx, "email already handled; not sent again", "state", rec.State)
	default:
		x.claimed = true
		if !rec.ClaimedAt.Equal(rec.CreatedAt) {
			// The key was claimed before, by a delivery that neither settled it nor renewed
			// its claim: that sender was killed or hung, perhaps after the SMTP server took
			// the email.
			s.metrics.takenOver.WithLabelValues(kind).Inc()
			x.log.WarnContext(x.ctx, "claim of a dead delivery taken over; the email may be sent twice",
				"first_claimed_at", rec.CreatedAt)
		}
	}
}

// sendWorkers bounds how many emails of a batch are rendered and sent at a time: enough to
// keep the transport's connections (or the disk) busy.
const sendWorkers = 16

// sendAll sends the emails whose keys are claimed: rendered up to sendWorkers at a time, then
// handed to the transport all at once when it is a BatchSender, else sent up to sendWorkers
// at a time.
func (s *Service) sendAll(sends []*sending) {
	var ready []*sending
	for _, x := range sends {
		if x.claimed {
			ready = append(ready, x)
		}
	}
	bs, batch := s.transport.(BatchSender)
	batch = batch && len(ready) > 1
	var mu sync.Mutex
	var toSend []*sending
	each(ready, func(x *sending) {
		if s.prepareSend(x) {
			if !batch {
				s.sendOne(x)
				return
			}
			mu.Lock()
			toSend = append(toSend, x)
			mu.Unlock()
		}
	})
	if len(toSend) == 0 {
		return
	}
	es := make([]Email, len(toSend))
	for i, x := range toSend {
		es[i] = x.email
	}
	ends, stops := make([]func(error), len(toSend)), make([]func(), len(toSend))
	for i, x := range toSend {
		_, ends[i] = startSend(x.ctx, x.req, s.transport)
		stops[i] = s.renew(x.ctx, x.req.IdempotencyKey, x.token, x.log)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(toSend[0].ctx), s.cfg.SendTimeout)
	errs := bs.SendBatch(ctx, es)
	cancel()
	// Each email's share of the batch's time: what sending it cost.
	took := time.Since(start).Seconds() / float64(len(toSend))
	for i, x := range toSend {
		stops[i]()
		ends[i](errs[i])
		s.metrics.duration.Observe(took)
		x.outcome, x.err = s.outcome(x, x.email, x.messageID, errs[i])
	}
}

// each runs f on every element of xs, up to sendWorkers at a time.
func each(xs []*sending, f func(x *sending)) {
	if len(xs) == 1 {
		f(xs[0])
		return
	}
	sem := make(chan struct{}, sendWorkers)
	var wg sync.WaitGroup
	for _, x := range xs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(x)
		})
	}
	wg.Wait()
}

// prepareSend renders the email of x, whose key it has claimed, and reports whether it is to
// be sent; otherwise it sets the outcome to record (it cannot be rendered, or its address is
// suppressed) or, for a transient failure, x.err.
func (s *Service) prepareSend(x *sending) bool {
	ctx, req := x.ctx, x.req
	var err error
	x.email, x.messageID, err = s.prepare(req, s.now())
	if err != nil {
		x.log.WarnContext(ctx, "email cannot be rendered", "err", err)
		x.outcome = &Outcome{State: StateFailed, Error: err.Error()}
		return false
	}
	switch sup, err := s.store.Suppression(ctx, x.email.To); {
	case err == nil:
		s.metrics.suppressed.WithLabelValues(kindLabel(req.Kind)).Inc()
		x.outcome = &Outcome{State: StateFailed, Error: fmt.Sprintf(
			"the address %s is suppressed: the mail server rejected it permanently on %s: %s",
			x.email.To, sup.At.UTC().Format(suppressedLayout), sup.Reason)}
		return false
	case !errors.Is(err, ErrNotSuppressed):
		s.release(ctx, req, x.token)
		x.err = fmt.Errorf("send email %s: %w", req.IdempotencyKey, err)
		return false
	}
	return true
}

// sendOne sends the rendered email of x and sets what it ended in.
func (s *Service) sendOne(x *sending) {
	sendCtx, cancel := context.WithTimeout(x.ctx, s.cfg.SendTimeout)
	sendCtx, endSpan := startSend(sendCtx, x.req, s.transport)
	stopRenewing := s.renew(x.ctx, x.req.IdempotencyKey, x.token, x.log)
	start := time.Now()
	err := s.transport.Send(sendCtx, x.email)
	stopRenewing()
	endSpan(err)
	cancel()
	s.metrics.duration.Observe(time.Since(start).Seconds())
	x.outcome, x.err = s.outcome(x, x.email, x.messageID, err)
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

// outcome returns what the send of email for x ended in (err): sent, failed for good (with
// the address suppressed when the server rejected it), or, for a transient failure before the
// last attempt, no outcome but the error, once the claim is released for a later delivery.
func (s *Service) outcome(x *sending, email Email, messageID string, err error) (*Outcome, error) {
	ctx, req, log := x.ctx, x.req, x.log
	attempt := max(x.m.Attempt, 1)
	var se *SMTPError
	switch {
	case err == nil:
		return &Outcome{State: StateSent, MessageID: messageID}, nil
	case errors.As(err, &se) && se.RecipientRejected():
		log.WarnContext(ctx, "address rejected for good; suppressed", "err", err)
		return &Outcome{
			State: StateFailed,
			Error: fmt.Sprintf("the mail server rejected the address %s permanently (at %s): %s", email.To, se.Step, se.Reply),
			Suppress: &Suppression{
				Address: email.To, Reason: fmt.Sprintf("%s (at %s)", se.Reply, se.Step), At: s.now().UTC(),
			},
		}, nil
	case broker.IsPermanent(err):
		log.WarnContext(ctx, "email refused for good", "err", err)
		return &Outcome{State: StateFailed, Error: err.Error()}, nil
	case attempt >= int(s.maxAttempts.Load()):
		log.WarnContext(ctx, "email failed on its last attempt", "attempt", attempt, "err", err)
		return &Outcome{State: StateFailed, Error: fmt.Sprintf("gave up after %d attempts: %v", attempt, err)}, nil
	}
	s.metrics.transient.WithLabelValues(kindLabel(req.Kind)).Inc()
	log.WarnContext(ctx, "email send failed; will retry", "attempt", attempt, "err", err)
	s.release(ctx, req, x.token)
	return nil, fmt.Errorf("send email %s (attempt %d): %w", req.IdempotencyKey, attempt, err)
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

// How settleAll retries recording outcomes: completeAttempts tries, waiting completeBackoff
// after the first failure, doubling after each further one.
const (
	completeAttempts = 3
	completeBackoff  = 100 * time.Millisecond
)

// settleAll records the outcomes of sends and queues their email.result messages, in one
// transaction. It goes on even when ctx is cancelled: an email that went out must be
// recorded.
func (s *Service) settleAll(ctx context.Context, sends []*sending) {
	ctx = context.WithoutCancel(ctx)
	var (
		todo []*sending
		outs []Outcome
		msgs [][]broker.Message
	)
	for _, x := range sends {
		if x.outcome == nil || x.err != nil {
			continue
		}
		o := *x.outcome
		o.Key, o.At = x.req.IdempotencyKey, s.now().UTC()
		if len(o.Error) > maxErrorLen {
			o.Error = o.Error[:maxErrorLen]
		}
		status := messages.ResultSent
		if o.State == StateFailed {
			status = messages.ResultFailed
		}
		result, err := broker.NewMessage(x.ctx, messages.TypeEmailResult, messages.EmailResult{
			IdempotencyKey: x.req.IdempotencyKey, Kind: x.req.Kind, ReminderID: x.req.ReminderID,
			Status: status, Error: o.Error, At: o.At,
		})
		if err != nil {
			x.err = err
			continue
		}
		x.outcome = &o
		todo, outs, msgs = append(todo, x), append(outs, o), append(msgs, []broker.Message{result})
	}
	// A failure here, after emails went out, would have later deliveries send them again once
	// the claims lapse: try a few times before giving up. ctx is not cancelled by then (see
	// above), so the waits run their course.
	for try := 1; len(todo) > 0; try++ {
		errs := s.store.CompleteBatch(ctx, outs, msgs)
		var again []int
		for i, err := range errs {
			if err != nil && !errors.Is(err, ErrNotClaimed) && try < completeAttempts {
				again = append(again, i)
				continue
			}
			s.settled(todo[i], err)
		}
		if len(again) == 0 {
			break
		}
		todo, outs, msgs = pick(todo, again), pick(outs, again), pick(msgs, again)
		retry.Sleep(ctx, retry.Backoff(completeBackoff, time.Second, try))
	}
}

// pick returns the elements of xs at the indexes idx.
func pick[T any](xs []T, idx []int) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

// settled takes the result err of recording the outcome of x.
func (s *Service) settled(x *sending, err error) {
	o := x.outcome
	switch {
	case errors.Is(err, ErrNotClaimed):
		// The claim lapsed and another delivery recorded the outcome first.
		x.log.WarnContext(x.ctx, "email outcome already recorded by another delivery", "state", o.State)
		return
	case err != nil:
		x.err = fmt.Errorf("record email %s: %w", x.req.IdempotencyKey, err)
		return
	}
	s.outbox.Notify()
	if o.State == StateSent {
		s.metrics.sent.WithLabelValues(kindLabel(x.req.Kind)).Inc()
		x.log.InfoContext(x.ctx, "email sent", "mail_message_id", o.MessageID)
	} else {
		s.metrics.failed.WithLabelValues(kindLabel(x.req.Kind)).Inc()
		x.log.WarnContext(x.ctx, "email failed", "reason", o.Error)
	}
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
