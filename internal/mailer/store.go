package mailer

import (
	"context"
	"errors"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
)

// States of an idempotency key in the sent-message log.
const (
	// StateSending: a consumer claimed the key and is sending; the claim lapses one lease
	// after it was taken or last renewed, so that a crashed consumer does not block the key
	// for long.
	StateSending = "sending"
	// StateSent: the email was sent; the key is settled.
	StateSent = "sent"
	// StateFailed: the email failed for good; the key is settled.
	StateFailed = "failed"
)

// Store errors.
var (
	// ErrNotFound: no record has the idempotency key.
	ErrNotFound = errors.New("no sent-message record has this idempotency key")
	// ErrClaimed: another consumer holds a live claim on the key.
	ErrClaimed = errors.New("another delivery is sending this email")
	// ErrNotClaimed: the key is not claimed (by this claimant, for Release and Renew): its
	// outcome was already recorded or its claim was taken over.
	ErrNotClaimed = errors.New("the email is not claimed")
	// ErrNotSuppressed: the address is not suppressed.
	ErrNotSuppressed = errors.New("the address is not suppressed")
)

// Record is the sent-message log's entry for one idempotency key.
type Record struct {
	Key   string
	Kind  messages.EmailKind
	State string
	// ClaimToken identifies the claimant while State is StateSending; empty otherwise.
	ClaimToken string
	// ClaimedAt is when the last claim was taken or renewed. A claim Claim returns with a
	// ClaimedAt other than its CreatedAt took over an earlier claim whose lease ran out.
	ClaimedAt time.Time
	// MessageID is the Message-ID of the sent email (StateSent).
	MessageID string
	// Error is why the email failed (StateFailed).
	Error string
	// CreatedAt is when the key was first claimed.
	CreatedAt time.Time
	// CompletedAt is when the outcome was recorded; zero while sending.
	CompletedAt time.Time
}

// Claim asks for the right to send the email of one idempotency key.
type Claim struct {
	Key  string
	Kind messages.EmailKind
	// Token identifies this claimant (unique per attempt).
	Token string
	// At is the time of the claim.
	At time.Time
	// Lease is how long a claim keeps others out after it was taken or last renewed; an older
	// claim may be taken over.
	Lease time.Duration
}

// Outcome is what became of a claimed email.
type Outcome struct {
	Key string
	// State is StateSent or StateFailed.
	State     string
	MessageID string
	Error     string
	At        time.Time
	// Suppress, when set, suppresses an address in the same transaction: the server
	// rejected the recipient for good.
	Suppress *Suppression
}

// Suppression is an address that no email is attempted to, because the SMTP server rejected
// it permanently.
type Suppression struct {
	// Address is the address, lower-cased by the store.
	Address string
	// Reason is the server's reply, such as "550 5.1.1 no such user".
	Reason string
	// At is when the server rejected it.
	At time.Time
}

// Store is the email-sender's sent-message log, keyed by idempotency key, and its outbox.
// Implementations must be safe for concurrent use, including by several processes sharing
// one database.
type Store interface {
	// Claim claims c.Key for c.Token and returns the key's record. When the key is new, or
	// its last claim is older than c.Lease, the claim is taken and the record is in
	// StateSending with ClaimToken c.Token. When the key is settled (StateSent, StateFailed)
	// nothing changes and the settled record is returned. When another claim taken or
	// renewed less than c.Lease ago holds the key, Claim returns ErrClaimed.
	Claim(ctx context.Context, c Claim) (Record, error)
	// ClaimBatch is Claim of several keys, in one transaction where the store can: it returns
	// a record and an error for each claim, with Claim's meaning.
	ClaimBatch(ctx context.Context, cs []Claim) ([]Record, []error)
	// Renew renews the claim of key held by token: its lease starts again at at, keeping
	// other deliveries out while a long send goes on. It returns ErrNotClaimed when token no
	// longer holds the key (its outcome was recorded, it was released, or it was taken over).
	Renew(ctx context.Context, key, token string, at time.Time) error
	// Complete records the outcome of a claimed key and, in the same transaction, adds msgs
	// to the outbox. It returns ErrNotClaimed, writing nothing, when the key is not in
	// StateSending (its outcome was already recorded, or it was never claimed).
	Complete(ctx context.Context, o Outcome, msgs ...broker.Message) error
	// CompleteBatch is Complete of several outcomes in one transaction: outs[i] with the
	// messages msgs[i]. An outcome whose key is not in StateSending gets ErrNotClaimed and
	// writes nothing; should the transaction fail, every outcome gets its error and nothing is
	// written.
	CompleteBatch(ctx context.Context, outs []Outcome, msgs [][]broker.Message) []error
	// Release gives up the claim of key held by token, so that a later delivery can claim
	// it at once. It returns ErrNotClaimed when token no longer holds the key.
	Release(ctx context.Context, key, token string) error
	// Suppression returns the suppression of address, compared without regard to case, or
	// ErrNotSuppressed. Suppressions are written by Complete (Outcome.Suppress); a second
	// one of an address replaces the first.
	Suppression(ctx context.Context, address string) (Suppression, error)
	// Get returns the record of key, or ErrNotFound.
	Get(ctx context.Context, key string) (Record, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}
