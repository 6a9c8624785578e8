package mailer

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// SQLStore is the email-sender's Store: in the embedded mode over one SQLite database file,
// in the distributed mode in the email-sender's own PostgreSQL database, which any number of
// replicas may share: of the deliveries of one idempotency key, one at a time holds its claim
// (see Claim). Its SQL is what SQLite and PostgreSQL both accept (placeholders rebound for the
// dialect, times as unix microseconds, upserts with RETURNING).
type SQLStore struct{ database.Store }

const recordColumns = `idempotency_key, kind, state, claim_token, claimed_at, message_id, error, created_at, completed_at`

// Claim implements Store; it is ClaimBatch of one claim.
func (s *SQLStore) Claim(ctx context.Context, c Claim) (Record, error) {
	recs, errs := s.ClaimBatch(ctx, []Claim{c})
	return recs[0], errs[0]
}

// ClaimBatch implements Store. The claims are decided in one transaction (in SQLite shared
// with concurrent ones, see database.Store.InTx; a single claim commits on its own), in the
// order of their keys, so that
// concurrent batches of PostgreSQL replicas lock common rows in one order. One statement
// decides each claim: it inserts the key, or takes over its row when that row is a claim
// whose lease ran out (its consumer crashed or hangs), and returns the row only when it did
// either; it is atomic with concurrent claims of the key (PostgreSQL makes a concurrent
// insert of the same key wait and then see the winner's row; SQLite runs writes one at a
// time). When it returns no row, the key is settled or held by a live claim, and the row is
// read to tell which; should the row be gone by then (a live claim was released meanwhile),
// the claim is tried again.
func (s *SQLStore) ClaimBatch(ctx context.Context, cs []Claim) ([]Record, []error) {
	recs, errs := make([]Record, len(cs)), make([]error, len(cs))
	order := byKey(len(cs), func(i int) string { return cs[i].Key }, nil)
	claimAll := func(q database.Querier) error {
		for _, i := range order {
			// A statement that fails is undone alone in SQLite, but ends the transaction in
			// PostgreSQL: the error is the batch's then.
			recs[i], errs[i] = s.claim(ctx, q, cs[i])
			if errs[i] != nil && !errors.Is(errs[i], ErrClaimed) {
				return errs[i]
			}
		}
		return nil
	}
	var err error
	if len(cs) == 1 {
		// One claim commits on its own (in SQLite with concurrent transactions).
		err = s.Write(ctx, claimAll)
	} else {
		err = s.InTx(ctx, func(tx *sql.Tx) error { return claimAll(tx) })
	}
	for i := range errs {
		if err != nil {
			recs[i], errs[i] = Record{}, err
		}
		if errs[i] != nil {
			errs[i] = fmt.Errorf("claim %s: %w", cs[i].Key, errs[i])
		}
	}
	return recs, errs
}

// byKey returns the indexes 0 to n-1 that keep holds for (all, when keep is nil) in the
// order of key, so that concurrent batches of PostgreSQL replicas lock common rows in one
// order.
func byKey(n int, key func(i int) string, keep func(i int) bool) []int {
	order := make([]int, 0, n)
	for i := range n {
		if keep == nil || keep(i) {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(key(a), key(b)) })
	return order
}

// claim decides one claim through q (see ClaimBatch).
func (s *SQLStore) claim(ctx context.Context, q database.Querier, c Claim) (Record, error) {
	at := database.Micros(c.At)
	for attempt := 0; ; attempt++ {
		rec, err := scanRecord(q.QueryRowContext(ctx, s.Rebind(`
		INSERT INTO sent_messages (idempotency_key, kind, state, claim_token, claimed_at, created_at)
		VALUES (?, ?, 'sending', ?, ?, ?)
		ON CONFLICT (idempotency_key) DO UPDATE SET claim_token = excluded.claim_token, claimed_at = excluded.claimed_at
		WHERE sent_messages.state = 'sending' AND sent_messages.claimed_at <= ?
		RETURNING `+recordColumns),
			c.Key, string(c.Kind), c.Token, at, at, database.Micros(c.At.Add(-c.Lease))))
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Record{}, err
		}
		rec, err = s.get(ctx, q, c.Key)
		switch {
		case errors.Is(err, ErrNotFound) && attempt < 3:
			continue // released between the two statements: claim again
		case err != nil:
			return Record{}, err
		case rec.State == StateSending:
			return Record{}, ErrClaimed
		}
		return rec, nil
	}
}

// Complete implements Store; it is CompleteBatch of one outcome.
func (s *SQLStore) Complete(ctx context.Context, o Outcome, msgs ...broker.Message) error {
	return s.CompleteBatch(ctx, []Outcome{o}, [][]broker.Message{msgs})[0]
}

// CompleteBatch implements Store. The keys are settled in the order of their names, so that
// concurrent batches of PostgreSQL replicas lock common rows in one order. Of concurrent
// completions of one key one changes the row; the others wait for it, find the key settled
// and change nothing.
func (s *SQLStore) CompleteBatch(ctx context.Context, outs []Outcome, msgs [][]broker.Message) []error {
	errs := make([]error, len(outs))
	for i, o := range outs {
		if o.State != StateSent && o.State != StateFailed {
			errs[i] = fmt.Errorf("invalid outcome state %q", o.State)
		}
	}
	order := byKey(len(outs), func(i int) string { return outs[i].Key }, func(i int) bool { return errs[i] == nil })
	notClaimed := make([]bool, len(outs))
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var out []broker.Message
		for _, i := range order {
			done, err := s.complete(ctx, tx, outs[i])
			if err != nil {
				return err
			}
			notClaimed[i] = !done // set again on every run of the transaction
			if done {
				out = append(out, msgs[i]...)
			}
		}
		return outbox.Add(ctx, tx, s.Dialect(), out...)
	})
	for _, i := range order {
		switch {
		case err != nil:
			errs[i] = err
		case notClaimed[i]:
			errs[i] = ErrNotClaimed
		}
	}
	for i := range errs {
		if errs[i] != nil {
			errs[i] = fmt.Errorf("complete %s: %w", outs[i].Key, errs[i])
		}
	}
	return errs
}

// complete records o in tx unless its key is not being sent, and reports whether it did.
func (s *SQLStore) complete(ctx context.Context, tx *sql.Tx, o Outcome) (bool, error) {
	res, err := tx.ExecContext(ctx, s.Rebind(`
		UPDATE sent_messages
		SET state = ?, message_id = ?, error = ?, completed_at = ?, claim_token = NULL
		WHERE idempotency_key = ? AND state = 'sending'`),
		o.State, o.MessageID, o.Error, database.Micros(o.At), o.Key)
	if err != nil {
		return false, err
	}
	done, err := oneRow(res)
	if err != nil || !done {
		return false, err
	}
	if sup := o.Suppress; sup != nil {
		if _, err := tx.ExecContext(ctx, s.Rebind(`
			INSERT INTO suppressions (address, reason, at) VALUES (?, ?, ?)
			ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, at = excluded.at`),
			strings.ToLower(sup.Address), sup.Reason, database.Micros(sup.At)); err != nil {
			return false, fmt.Errorf("suppress %s: %w", sup.Address, err)
		}
	}
	return true, nil
}

// Release implements Store.
func (s *SQLStore) Release(ctx context.Context, key, token string) error {
	return s.holder(ctx, "release "+key, `
		DELETE FROM sent_messages WHERE idempotency_key = ? AND state = 'sending' AND claim_token = ?`,
		key, token)
}

// Renew implements Store. Like Release, it changes the row only while token holds the claim,
// so a sender whose claim was taken over cannot take it back.
func (s *SQLStore) Renew(ctx context.Context, key, token string, at time.Time) error {
	return s.holder(ctx, "renew claim of "+key, `
		UPDATE sent_messages SET claimed_at = ?
		WHERE idempotency_key = ? AND state = 'sending' AND claim_token = ?`,
		database.Micros(at), key, token)
}

// holder runs query, a statement on the row of a key that only the holder of its claim may
// change (its WHERE names the key, the sending state and the claim token), and returns
// ErrNotClaimed when it changed no row. what names the work in errors.
func (s *SQLStore) holder(ctx context.Context, what, query string, args ...any) error {
	var changed bool
	err := s.Write(ctx, func(q database.Querier) error {
		res, err := q.ExecContext(ctx, s.Rebind(query), args...)
		if err != nil {
			return err
		}
		changed, err = oneRow(res)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !changed {
		return fmt.Errorf("%s: %w", what, ErrNotClaimed)
	}
	return nil
}

// Suppression implements Store.
func (s *SQLStore) Suppression(ctx context.Context, address string) (Suppression, error) {
	var (
		sup Suppression
		at  int64
	)
	err := s.DB().QueryRowContext(ctx, s.Rebind(`SELECT address, reason, at FROM suppressions WHERE address = ?`),
		strings.ToLower(address)).Scan(&sup.Address, &sup.Reason, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Suppression{}, ErrNotSuppressed
	case err != nil:
		return Suppression{}, fmt.Errorf("suppression of %s: %w", address, err)
	}
	sup.At = database.FromMicros(at)
	return sup, nil
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, key string) (Record, error) {
	rec, err := s.get(ctx, s.DB(), key)
	if err != nil {
		return Record{}, fmt.Errorf("get sent message %s: %w", key, err)
	}
	return rec, nil
}

func (s *SQLStore) get(ctx context.Context, q database.Querier, key string) (Record, error) {
	rec, err := scanRecord(q.QueryRowContext(ctx,
		s.Rebind(`SELECT `+recordColumns+` FROM sent_messages WHERE idempotency_key = ?`), key))
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	return rec, err
}

// scanRecord reads a row of recordColumns.
func scanRecord(row *sql.Row) (Record, error) {
	var (
		r                    Record
		kind                 string
		token                sql.NullString
		claimedAt, createdAt int64
		completedAt          sql.NullInt64
	)
	err := row.Scan(&r.Key, &kind, &r.State, &token, &claimedAt, &r.MessageID, &r.Error, &createdAt, &completedAt)
	if err != nil {
		return Record{}, err
	}
	r.Kind = messages.EmailKind(kind)
	r.ClaimToken = token.String
	r.ClaimedAt = database.FromMicros(claimedAt)
	r.CreatedAt = database.FromMicros(createdAt)
	if completedAt.Valid {
		r.CompletedAt = database.FromMicros(completedAt.Int64)
	}
	return r, nil
}

func oneRow(res sql.Result) (bool, error) {
	n, err := res.RowsAffected()
	return n == 1, err
}

//go:embed migrations
var migrations embed.FS

// storeDB is how the email-sender's database is kept: its own migrations (migrations/sqlite,
// migrations/postgres), then the outbox's.
var storeDB = outbox.Service("mailer", migrations)

var _ Store = (*SQLStore)(nil)

// Open opens the email-sender's database of dialect d at dsn — a SQLite file path (the file is created if
// needed) or a PostgreSQL URL (postgres://user:pass@host:port/db) — and brings its schema,
// the outbox's included, up to date; PostgreSQL replicas starting at once take turns.
func Open(ctx context.Context, d database.Dialect, dsn string, log *slog.Logger) (*SQLStore, error) {
	return database.OpenStore[SQLStore](ctx, storeDB, d, dsn, log)
}
