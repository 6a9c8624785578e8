package notifications

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/metrics"
	"github.com/eventpost/eventpost/internal/platform/wakeup"
)

// minRetry is how soon the scheduler looks again when a reminder is due but was not
// claimed (another replica holds it), so that it does not spin.
const minRetry = 10 * time.Millisecond

// serviceMetrics are the scheduler's and consumers' figures.
type serviceMetrics struct {
	lag     prometheus.Histogram
	claimed prometheus.Counter
	emails  *prometheus.CounterVec
	// scheduled counts the scheduled reminders every Config.MetricsRefresh while Run runs;
	// a scrape reads its last count (see metrics.RefreshedGauge for why a timer and not a
	// count kept in step with every reminder transaction).
	scheduled *metrics.RefreshedGauge
}

func newServiceMetrics(reg prometheus.Registerer, store Store, log *slog.Logger) (*serviceMetrics, error) {
	m := &serviceMetrics{
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "notifications_scheduler_lag_seconds",
			Help:    "How late the scheduler claimed each reminder: claim time minus send_at.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 30, 60, 300, 3600},
		}),
		claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "notifications_reminders_claimed_total",
			Help: "Reminders the scheduler claimed and handed to the email-sender.",
		}),
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notifications_emails_queued_total",
			Help: "Emails written to the outbox, by kind.",
		}, []string{"kind"}),
	}
	m.scheduled = metrics.NewRefreshedGauge("notifications_reminders_scheduled", "Reminders waiting for their time.",
		func(ctx context.Context) (float64, error) {
			n, err := store.CountScheduled(ctx)
			return float64(n), err
		}, log)
	for _, c := range []prometheus.Collector{m.lag, m.claimed, m.emails, m.scheduled} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// wakeScheduler makes Run look at the reminders again without blocking: one was created or
// moved.
func (s *Service) wakeScheduler() { s.wake.Wake() }

// Run is the scheduler. It claims the reminders that are due, hands them to the outbox, and
// sleeps until the next one is due, until a reminder is created or moved, or for at most
// Config.PollInterval. Reminders that fell due while no scheduler ran are claimed as soon as
// it starts. Meanwhile it refreshes the notifications_reminders_scheduled gauge, at start
// and every Config.MetricsRefresh. Run returns nil when ctx is done, once both have stopped.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = s.metrics.scheduled.Run(ctx, s.cfg.MetricsRefresh) }) // returns nil when ctx ends
	return wakeup.Loop(ctx, s.wake, 0, s.schedule)
}

// schedule claims every due reminder and returns how long to sleep.
func (s *Service) schedule(ctx context.Context) time.Duration {
	poll, batch := time.Duration(s.pollInterval.Load()), int(s.claimBatch.Load())
	for ctx.Err() == nil {
		n, err := s.claim(ctx, batch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "claim due reminders", "err", err)
			}
			return poll
		}
		if n < batch {
			break
		}
	}
	next, ok, err := s.store.NextSendAt(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "next reminder", "err", err)
		}
		return poll
	}
	if !ok {
		return poll
	}
	return min(max(next.Sub(s.now()), minRetry), poll)
}

// claim claims one batch of at most batch due reminders and returns how many it claimed;
// first it cancels the reminders whose time came while they awaited consent.
func (s *Service) claim(ctx context.Context, batch int) (int, error) {
	now := s.clock()
	if n, err := s.store.CancelUnconsented(ctx, now); err != nil {
		return 0, err
	} else if n > 0 {
		s.log.InfoContext(ctx, "reminders never accepted cancelled", "count", n)
	}
	spans := claimSpans{}
	claimed, err := s.store.ClaimDue(ctx, now, batch, func(tx Tx, r Reminder) (Claim, error) {
		d, err := s.deliveryOf(ctx, tx, r)
		if err != nil || d.blocked != "" {
			return Claim{Status: d.blockedAs, LastError: d.lastError()}, err
		}
		m, err := reminderEmail(spans.start(ctx, r, now), r, d)
		return Claim{Mail: &m}, err
	})
	defer spans.end(err)
	if err != nil {
		return 0, err
	}
	if len(claimed) == 0 {
		return 0, nil
	}
	sending := 0
	for _, r := range claimed {
		if r.Status != StatusSending {
			s.log.InfoContext(ctx, "reminder not sent", "reminder_id", r.ID, "status", r.Status, "error", r.LastError)
			continue
		}
		sending++
		s.metrics.lag.Observe(max(now.Sub(r.SendAt), 0).Seconds())
		s.log.InfoContext(spans.context(ctx, r.ID), "reminder claimed", "reminder_id", r.ID, "event_id", r.EventID,
			"send_at", r.SendAt, "lag_ms", now.Sub(r.SendAt).Milliseconds())
	}
	if sending > 0 {
		s.outbox.Notify()
	}
	s.metrics.claimed.Add(float64(sending))
	s.metrics.emails.WithLabelValues(string(messages.EmailReminder)).Add(float64(sending))
	return len(claimed), nil
}

// reminderEmail is the email.send message of reminder r, delivered as d says.
func reminderEmail(ctx context.Context, r Reminder, d delivery) (broker.Message, error) {
	ev := r.Event
	return broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
		IdempotencyKey:   r.ID,
		Kind:             messages.EmailReminder,
		To:               r.Email,
		Name:             d.name,
		ReminderID:       r.ID,
		Event:            &ev,
		Note:             r.Note,
		UnsubscribeToken: d.token,
		Requester:        d.requester,
	})
}
