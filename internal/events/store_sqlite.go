package events

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLiteStore is the Store of the embedded mode, in one SQLite database file that also holds
// the service's outbox. Every search is served by an index (see Search): B-trees for the
// start time, category, organizer and tags, an FTS5 table for words and combined filters, an
// R*Tree for distances. Triggers keep the FTS5 table, the R*Tree and the tag table in step
// with the events table.
type SQLiteStore struct {
	db *sql.DB
}

// OpenSQLite opens (creating it if needed) the events database at path and brings its schema,
// outbox included, up to date.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (*SQLiteStore, error) {
	db, err := database.OpenSQLite(ctx, path, log,
		database.Schema{FS: sqliteMigrations, Dir: "migrations/sqlite"}, outbox.Schema(database.SQLite))
	if err != nil {
		return nil, fmt.Errorf("open events store: %w", err)
	}
	return &SQLiteStore{db: db}, nil
}

// DB returns the database, on which the app runs the outbox relay.
func (s *SQLiteStore) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *SQLiteStore) Close() error { return s.db.Close() }

// Ping implements Store.
func (s *SQLiteStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

const eventColumns = `e.id, e.organizer_id, e.title, e.description, e.starts_at, e.ends_at, e.timezone,
	e.location_name, e.location_address, e.lat, e.lon, e.online_url, e.category, e.tags, e.capacity,
	e.created_at, e.updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanEvent(r rowScanner) (Event, error) {
	var (
		e                      Event
		startsAt, created, upd int64
		endsAt, capacity       sql.NullInt64
		locName, locAddress    sql.NullString
		lat, lon               sql.NullFloat64
		onlineURL, category    sql.NullString
		tags                   string
	)
	err := r.Scan(&e.ID, &e.OrganizerID, &e.Title, &e.Description, &startsAt, &endsAt, &e.Timezone,
		&locName, &locAddress, &lat, &lon, &onlineURL, &category, &tags, &capacity, &created, &upd)
	if err != nil {
		return Event{}, err
	}
	e.StartsAt, e.CreatedAt, e.UpdatedAt = fromMicro(startsAt), fromMicro(created), fromMicro(upd)
	if endsAt.Valid {
		t := fromMicro(endsAt.Int64)
		e.EndsAt = &t
	}
	if locName.Valid {
		e.Location = &Location{Name: locName.String, Address: locAddress.String}
		if lat.Valid && lon.Valid {
			e.Location.Lat, e.Location.Lon = &lat.Float64, &lon.Float64
		}
	}
	if onlineURL.Valid {
		e.OnlineURL = &onlineURL.String
	}
	if category.Valid {
		e.Category = &category.String
	}
	if capacity.Valid {
		e.Capacity = &capacity.Int64
	}
	if err := json.Unmarshal([]byte(tags), &e.Tags); err != nil {
		return Event{}, fmt.Errorf("event %s: tags: %w", e.ID, err)
	}
	if e.Tags == nil {
		e.Tags = []string{}
	}
	return e, nil
}

func fromMicro(us int64) time.Time { return time.UnixMicro(us).UTC() }

// eventArgs returns the values of the columns from organizer_id to updated_at.
func eventArgs(e Event) ([]any, error) {
	tags := e.Tags
	if tags == nil {
		tags = []string{}
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return nil, err
	}
	var (
		endsAt              *int64
		locName, locAddress *string
		lat, lon            *float64
		categoryKey         *string
	)
	if e.EndsAt != nil {
		v := e.EndsAt.UnixMicro()
		endsAt = &v
	}
	if l := e.Location; l != nil {
		locName, locAddress = &l.Name, &l.Address
		if l.Lat != nil && l.Lon != nil {
			lat, lon = l.Lat, l.Lon
		}
	}
	if e.Category != nil {
		k := strings.ToLower(*e.Category)
		categoryKey = &k
	}
	return []any{
		e.OrganizerID, e.Title, e.Description, e.StartsAt.UnixMicro(), endsAt, e.Timezone,
		locName, locAddress, lat, lon, e.OnlineURL, e.Category, categoryKey, string(tagsJSON), e.Capacity,
		e.CreatedAt.UnixMicro(), e.UpdatedAt.UnixMicro(),
	}, nil
}

// Create implements Store.
func (s *SQLiteStore) Create(ctx context.Context, e Event, msgs ...broker.Message) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := insertEvent(ctx, tx, e); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, database.SQLite, msgs...)
	})
	if err != nil {
		return fmt.Errorf("store event %s: %w", e.ID, err)
	}
	return nil
}

func insertEvent(ctx context.Context, tx *sql.Tx, e Event) error {
	var one int
	switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM events WHERE id = ?`, e.ID).Scan(&one); {
	case err == nil:
		return ErrConflict
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	seq, err := nextSeq(ctx, tx, e.StartsAt)
	if err != nil {
		return err
	}
	args, err := eventArgs(e)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO events (seq, id, organizer_id, title, description,
		starts_at, ends_at, timezone, location_name, location_address, lat, lon, online_url, category,
		category_key, tags, capacity, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append([]any{seq, e.ID}, args...)...)
	return err
}

// Get implements Store.
func (s *SQLiteStore) Get(ctx context.Context, id string) (Event, error) {
	e, err := getEvent(ctx, s.db, id)
	if err != nil {
		return Event{}, fmt.Errorf("load event %s: %w", id, err)
	}
	return e, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getEvent(ctx context.Context, db querier, id string) (Event, error) {
	e, err := scanEvent(db.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events e WHERE e.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, ErrNotFound
	}
	return e, err
}

// Update implements Store.
func (s *SQLiteStore) Update(ctx context.Context, id string, change func(Event) (Event, []broker.Message, error)) (Event, error) {
	var updated Event
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := getEvent(ctx, tx, id)
		if err != nil {
			return err
		}
		e, msgs, err := change(old)
		if err != nil {
			return err
		}
		e.ID = old.ID
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM events WHERE id = ?`, id).Scan(&seq); err != nil {
			return err
		}
		if secFloor(e.StartsAt.UnixMicro()) != secFloor(old.StartsAt.UnixMicro()) {
			if seq, err = nextSeq(ctx, tx, e.StartsAt); err != nil {
				return err
			}
		}
		args, err := eventArgs(e)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE events SET seq = ?, organizer_id = ?, title = ?, description = ?,
			starts_at = ?, ends_at = ?, timezone = ?, location_name = ?, location_address = ?, lat = ?, lon = ?,
			online_url = ?, category = ?, category_key = ?, tags = ?, capacity = ?, created_at = ?, updated_at = ?
			WHERE id = ?`, append(append([]any{seq}, args...), id)...); err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, database.SQLite, msgs...); err != nil {
			return err
		}
		updated = normalized(e)
		return nil
	})
	if err != nil {
		return Event{}, fmt.Errorf("update event %s: %w", id, err)
	}
	return updated, nil
}

// Delete implements Store.
func (s *SQLiteStore) Delete(ctx context.Context, id string, remove func(Event) ([]broker.Message, error)) (Event, error) {
	var deleted Event
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		e, err := getEvent(ctx, tx, id)
		if err != nil {
			return err
		}
		msgs, err := remove(e)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id = ?`, id); err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, database.SQLite, msgs...); err != nil {
			return err
		}
		deleted = e
		return nil
	})
	if err != nil {
		return Event{}, fmt.Errorf("delete event %s: %w", id, err)
	}
	return deleted, nil
}

// DeleteByOrganizer implements Store.
func (s *SQLiteStore) DeleteByOrganizer(ctx context.Context, organizerID, messageID string, announce func(Event) (broker.Message, error)) ([]Event, error) {
	var deleted []Event
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		first, err := outbox.FirstDelivery(ctx, tx, database.SQLite, messageID)
		if err != nil {
			return err
		}
		if !first {
			return ErrAlreadyHandled
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+eventColumns+` FROM events e INDEXED BY events_organizer
			WHERE e.organizer_id = ? ORDER BY e.starts_at, e.id`, organizerID)
		if err != nil {
			return err
		}
		deleted, err = collect(rows)
		if err != nil {
			return err
		}
		msgs := make([]broker.Message, 0, len(deleted))
		for _, e := range deleted {
			m, err := announce(e)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE organizer_id = ?`, organizerID); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, database.SQLite, msgs...)
	})
	if err != nil {
		return nil, fmt.Errorf("delete events of organizer %s: %w", organizerID, err)
	}
	return deleted, nil
}

func (s *SQLiteStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// normalized returns e as the store gives it back.
func normalized(e Event) Event {
	e.StartsAt, e.CreatedAt, e.UpdatedAt = utcMicro(e.StartsAt), utcMicro(e.CreatedAt), utcMicro(e.UpdatedAt)
	if e.EndsAt != nil {
		t := utcMicro(*e.EndsAt)
		e.EndsAt = &t
	}
	if e.Tags == nil {
		e.Tags = []string{}
	}
	if e.Location != nil && (e.Location.Lat == nil || e.Location.Lon == nil) {
		l := Location{Name: e.Location.Name, Address: e.Location.Address}
		e.Location = &l
	}
	return e
}

func collect(rows *sql.Rows) ([]Event, error) {
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// seqShift makes room in seq for the events that start in the same second.
const seqShift = 24

// secFloor returns the unix second that the time us (in unix microseconds) falls in.
func secFloor(us int64) int64 {
	s := us / 1_000_000
	if us%1_000_000 < 0 {
		s--
	}
	return s
}

// nextSeq returns a free seq for an event that starts at t.
func nextSeq(ctx context.Context, tx *sql.Tx, t time.Time) (int64, error) {
	base := secFloor(t.UnixMicro()) << seqShift
	var last int64
	err := tx.QueryRowContext(ctx, `SELECT seq FROM events WHERE seq >= ? AND seq < ? ORDER BY seq DESC LIMIT 1`,
		base, base+1<<seqShift).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return base, nil
	case err != nil:
		return 0, err
	case last+1 >= base+1<<seqShift:
		return 0, fmt.Errorf("too many events start at %s", t.Format(time.RFC3339))
	}
	return last + 1, nil
}
