package notifications

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/validation"
)

// DuplicateError is a reminder identical to one the account already holds: same event,
// address (whatever its case) and send time, not cancelled. ID is the existing one.
type DuplicateError struct{ ID string }

func (e *DuplicateError) Error() string {
	return "an identical reminder exists already: " + e.ID
}

// LimitError is a request over one of the account's quotas. With RetryAfter, waiting that
// long lifts it (a rate); without, the account must first cancel something.
type LimitError struct {
	Detail     string
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return e.Detail }

// Decisions on a consent request.
const (
	DecisionAccept  = "accept"
	DecisionDecline = "decline"
)

// notConfirmed is the last_error of a reminder to an account's own address that was not
// confirmed when the reminder fell due.
func notConfirmed(email string) string {
	return "the address " + email + " is not confirmed; confirm it from the welcome email or ask for a new link"
}

// addressKey is the form an address is compared in: lowercased, whole.
func addressKey(email string) string { return strings.ToLower(email) }

// tokenLength is the length of a recipient token: 32 random bytes, base64url, unpadded.
var tokenLength = base64.RawURLEncoding.EncodedLen(32)

// newToken returns a new recipient token.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// createTx stores r, a new reminder of an account whose own address is accountEmail, in tx,
// checking first that it is no duplicate and within the account's quotas. It returns the
// state r starts in and whether it queued a consent request.
func (s *Service) createTx(ctx context.Context, tx Tx, r Reminder, accountEmail string) (Status, bool, error) {
	// The account's row (when known) is locked first, so that concurrent creations of one
	// account count its quotas in turn; the snapshot's, then, so that those of one event
	// check for duplicates in turn.
	acct, err := tx.Account(ctx, r.AccountID, true)
	if err != nil && !errors.Is(err, ErrAccountUnknown) {
		return "", false, err
	}
	if err := tx.KeepSnapshot(ctx, r.Event); err != nil {
		return "", false, err
	}
	if err := s.checkDuplicate(ctx, tx, r); err != nil {
		return "", false, err
	}
	n, err := tx.CountPending(ctx, r.AccountID)
	if err != nil {
		return "", false, err
	}
	if limit := s.cfg.MaxPendingReminders; n >= limit {
		return "", false, &LimitError{Detail: fmt.Sprintf(
			"this account holds %d reminders that are scheduled or awaiting consent, the most it may; cancel one first", limit)}
	}
	key := addressKey(r.Email)
	var mailed bool
	if key == addressKey(accountEmail) {
		// Asking for a reminder to one's own address is consenting to it.
		r.Status = StatusScheduled
		if _, err := s.ensureRecipient(ctx, tx, r.AccountID, key, true); err != nil {
			return "", false, err
		}
	} else {
		requester := acct.DisplayName
		if requester == "" {
			requester = accountEmail
		}
		if r.Status, mailed, err = s.otherRecipient(ctx, tx, r, requester); err != nil {
			return "", false, err
		}
	}
	return r.Status, mailed, tx.InsertReminder(ctx, r)
}

// checkDuplicate returns a *DuplicateError when the account of r holds an identical reminder.
func (s *Service) checkDuplicate(ctx context.Context, tx Tx, r Reminder) error {
	same, err := tx.SameTimeReminders(ctx, r.AccountID, r.EventID, r.SendAt)
	if err != nil {
		return err
	}
	for _, o := range same {
		if addressKey(o.Email) == addressKey(r.Email) {
			return &DuplicateError{ID: o.ID}
		}
	}
	return nil
}

// otherRecipient returns the state a new reminder r to someone else's address starts in, as
// that address's consent to reminders from the account says; the first reminder to an
// address asks it, within the daily quota, by an email naming requester.
func (s *Service) otherRecipient(ctx context.Context, tx Tx, r Reminder, requester string) (Status, bool, error) {
	key := addressKey(r.Email)
	rec, err := tx.Recipient(ctx, r.AccountID, key, true)
	switch {
	case err == nil && rec.State == ConsentAccepted:
		return StatusScheduled, false, nil
	case err == nil && rec.State == ConsentPending:
		return StatusAwaitingConsent, false, nil
	case err == nil:
		return "", false, validation.New("email", "this address declined reminders from this account")
	case !errors.Is(err, ErrConsentNotFound):
		return "", false, err
	}
	now := s.clock()
	window := s.cfg.ConsentRequestWindow
	n, earliest, err := tx.ConsentRequests(ctx, r.AccountID, now.Add(-window))
	if err != nil {
		return "", false, err
	}
	if n >= s.cfg.MaxConsentRequests {
		return "", false, &LimitError{
			Detail: fmt.Sprintf("this account asked %d new addresses for consent to reminders within %s, the most it may; "+
				"try again later or remind an address that accepted already", n, windowText(window)),
			RetryAfter: max(earliest.Add(window).Sub(now), time.Second),
		}
	}
	token, err := newToken()
	if err != nil {
		return "", false, err
	}
	rec, err = tx.AddRecipient(ctx, Recipient{
		AccountID: r.AccountID, Email: key, State: ConsentPending, Token: token, RequestedAt: &now,
	})
	if err != nil {
		return "", false, err
	}
	ev := r.Event
	mail, err := broker.NewMessage(ctx, messages.TypeEmailSend, messages.EmailSend{
		IdempotencyKey: "consent_request:" + rec.Token,
		Kind:           messages.EmailConsentRequest,
		To:             r.Email,
		Token:          rec.Token,
		Requester:      requester,
		Event:          &ev,
	})
	if err != nil {
		return "", false, err
	}
	return StatusAwaitingConsent, true, tx.AddMessages(ctx, mail)
}

// windowText says d in words: whole hours as hours.
func windowText(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}

// ensureRecipient returns the recipient key of accountID, adding it as accepted when it is
// missing (an own address, or a reminder from before consent existed); with accept, it also
// makes a stored one accepted.
func (s *Service) ensureRecipient(ctx context.Context, tx Tx, accountID, key string, accept bool) (Recipient, error) {
	token, err := newToken()
	if err != nil {
		return Recipient{}, err
	}
	now := s.clock()
	rec, err := tx.AddRecipient(ctx, Recipient{
		AccountID: accountID, Email: key, State: ConsentAccepted, Token: token, DecidedAt: &now,
	})
	if err != nil || !accept || rec.State == ConsentAccepted {
		return rec, err
	}
	rec.State, rec.DecidedAt = ConsentAccepted, &now
	return rec, tx.DecideRecipient(ctx, accountID, key, ConsentAccepted, now)
}

// delivery is what an email for a reminder carries besides the event, or why none may go.
type delivery struct {
	token, name, requester string
	// blocked, when not empty, is why nothing may be sent, and blockedAs the state the
	// reminder takes for it.
	blocked   string
	blockedAs Status
}

// lastError is the last_error of a reminder that d blocks: the reason of a failure, nothing
// for a cancellation.
func (d delivery) lastError() string {
	if d.blockedAs == StatusFailed {
		return d.blocked
	}
	return ""
}

// deliveryOf returns what an email for reminder r carries, or why none may go: to the
// account's own address only once confirmed, to another one only once it accepted. The
// account's own address is the one account.changed told; for an account it never told of, an
// address that was asked for consent is someone else's and any other is taken for its own
// (so not confirmed). It reads without locking (see Store.ClaimDue).
func (s *Service) deliveryOf(ctx context.Context, tx Tx, r Reminder) (delivery, error) {
	key := addressKey(r.Email)
	acct, err := tx.Account(ctx, r.AccountID, false)
	known := err == nil
	if err != nil && !errors.Is(err, ErrAccountUnknown) {
		return delivery{}, err
	}
	rec, err := tx.Recipient(ctx, r.AccountID, key, false)
	stored := err == nil
	if err != nil && !errors.Is(err, ErrConsentNotFound) {
		return delivery{}, err
	}
	own := !(stored && rec.RequestedAt != nil)
	if known {
		own = addressKey(acct.Email) == key
	}
	if own && !(known && acct.EmailVerified) {
		return delivery{blocked: notConfirmed(r.Email), blockedAs: StatusFailed}, nil
	}
	if !stored {
		if rec, err = s.ensureRecipient(ctx, tx, r.AccountID, key, false); err != nil {
			return delivery{}, err
		}
	}
	if rec.State != ConsentAccepted {
		return delivery{blocked: "the address does not accept reminders from this account", blockedAs: StatusCancelled}, nil
	}
	d := delivery{token: rec.Token}
	if own {
		d.name = acct.DisplayName
	} else if known {
		d.requester = cmpOr(acct.DisplayName, acct.Email)
	}
	return d, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Consent is what the consent page shows of one recipient.
type Consent struct {
	// Email is the address, lowercased.
	Email string
	// Requester is the display name of the account that set the reminders.
	Requester string
	Status    ConsentState
}

// validToken reports whether token has the form of a recipient token; one that has not is
// reported as ErrConsentNotFound without a look at the database.
func validToken(token string) bool {
	if len(token) != tokenLength {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}

// Consent returns the recipient whose token is token.
func (s *Service) Consent(ctx context.Context, token string) (Consent, error) {
	var c Consent
	err := s.withRecipient(ctx, token, func(tx Tx, rec Recipient) error {
		var err error
		c, err = consentOf(ctx, tx, rec)
		return err
	})
	return c, err
}

// Decide records the decision ("accept" or "decline") of the recipient whose token is token
// on reminders from its account: accepting schedules the reminders awaiting its consent
// (those whose time passed are cancelled), declining cancels them. Deciding again is allowed:
// it changes later reminders, not cancelled ones.
func (s *Service) Decide(ctx context.Context, token, decision string) (Consent, error) {
	state := map[string]ConsentState{DecisionAccept: ConsentAccepted, DecisionDecline: ConsentDeclined}[decision]
	if state == "" {
		return Consent{}, validation.New("decision", `must be "accept" or "decline"`)
	}
	var c Consent
	err := s.withRecipient(ctx, token, func(tx Tx, rec Recipient) error {
		now := s.clock()
		if err := tx.DecideRecipient(ctx, rec.AccountID, rec.Email, state, now); err != nil {
			return err
		}
		rec.State = state
		err := s.moveRecipientReminders(ctx, tx, rec, StatusAwaitingConsent, func(r Reminder) Status {
			if state == ConsentAccepted && r.SendAt.After(now) {
				return StatusScheduled
			}
			return StatusCancelled
		})
		if err != nil {
			return err
		}
		c, err = consentOf(ctx, tx, rec)
		return err
	})
	if err == nil && state == ConsentAccepted {
		s.wakeScheduler()
	}
	return c, err
}

// Unsubscribe stops every reminder email from the account of the recipient whose token is
// token to its address: the pair becomes declined and its pending reminders cancelled.
func (s *Service) Unsubscribe(ctx context.Context, token string) error {
	return s.withRecipient(ctx, token, func(tx Tx, rec Recipient) error {
		if err := tx.DecideRecipient(ctx, rec.AccountID, rec.Email, ConsentDeclined, s.clock()); err != nil {
			return err
		}
		for _, st := range []Status{StatusScheduled, StatusAwaitingConsent} {
			if err := s.moveRecipientReminders(ctx, tx, rec, st, func(Reminder) Status { return StatusCancelled }); err != nil {
				return err
			}
		}
		return nil
	})
}

// withRecipient calls fn, in one transaction, with the recipient whose token is token, or
// returns ErrConsentNotFound.
func (s *Service) withRecipient(ctx context.Context, token string, fn func(tx Tx, rec Recipient) error) error {
	if !validToken(token) {
		return ErrConsentNotFound
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		rec, err := tx.RecipientByToken(ctx, token)
		if err != nil {
			return err
		}
		return fn(tx, rec)
	})
	if err != nil {
		return fmt.Errorf("consent: %w", err)
	}
	return nil
}

// moveRecipientReminders moves each reminder in state from of rec's account to rec's address
// to the state to returns for it.
func (s *Service) moveRecipientReminders(ctx context.Context, tx Tx, rec Recipient, from Status, to func(Reminder) Status) error {
	rs, err := tx.AccountReminders(ctx, rec.AccountID, from)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if addressKey(r.Email) != rec.Email {
			continue
		}
		if _, err := tx.Transition(ctx, r.ID, from, to(r), nil, ""); err != nil {
			return err
		}
	}
	return nil
}

func consentOf(ctx context.Context, tx Tx, rec Recipient) (Consent, error) {
	c := Consent{Email: rec.Email, Status: rec.State}
	acct, err := tx.Account(ctx, rec.AccountID, false)
	switch {
	case err == nil:
		c.Requester = cmpOr(acct.DisplayName, acct.Email)
	case !errors.Is(err, ErrAccountUnknown):
		return Consent{}, err
	}
	return c, nil
}
