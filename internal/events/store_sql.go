package events

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	neturl "net/url"
	"slices"
	"strings"
	"time"

	"github.com/eventpost/eventpost/internal/platform/broker"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/idempotency"
	"github.com/eventpost/eventpost/internal/platform/outbox"
)

// SQLStore is the events Store. In the embedded mode it is one SQLite database file, in the
// distributed mode a PostgreSQL database of its own; either also holds the service's outbox.
// Every method but Search runs SQL that both dialects share: placeholders are rebound for the
// dialect; times are unix microseconds in both. The dialects differ only in how tags are kept
// (JSON text or text[]), in the column each keeps for its own search index (SQLite's seq,
// PostgreSQL's search), in row locks (PostgreSQL locks the rows it reads to change; a SQLite
// write transaction holds the whole database), and in how they search (see Search).
type SQLStore struct {
	database.Store
	// stats holds the PostgreSQL statistics that searches read (see searchWindows).
	stats *pgStatsCache
}

// Search implements Store. In SQLite every search is served by an index (see searchSQLite):
// B-trees for the start time, category, organizer and tags, an FTS5 table for words and
// combined filters, an R*Tree for distances; triggers keep the FTS5 table, the R*Tree and the
// tag table in step with the events table. In PostgreSQL searches are SELECTs that the
// planner serves from B-tree indexes for the start time, category, organizer and place (a map
// cell, or latitude and longitude), and GIN indexes for tags and words, combined filters
// first in windows of start times (see searchPostgres).
func (s *SQLStore) Search(ctx context.Context, q SearchQuery) (Page, error) {
	search := s.searchSQLite
	if s.Dialect() == database.Postgres {
		search = s.searchPostgres
	}
	events, err := search(ctx, q) // up to q.Limit+1, to tell whether there are more
	if err != nil {
		return Page{}, fmt.Errorf("search events: %w", err)
	}
	more := len(events) > q.Limit
	if more {
		events = events[:q.Limit]
	}
	return Page{Events: events, More: more}, nil
}

// queryEvents runs query, a SELECT of the columns scanEvent reads, and returns its events.
func (s *SQLStore) queryEvents(ctx context.Context, query string, args []any) ([]Event, error) {
	rows, err := s.DB().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows)
}

// eventColumns are the columns scanEvent reads, as SQLite keeps them.
const eventColumns = `e.id, e.organizer_id, e.title, e.description, e.starts_at, e.ends_at, e.timezone,
	e.location_name, e.location_address, e.lat, e.lon, e.online_url, e.category, e.tags, e.capacity,
	e.created_at, e.updated_at, e.sequence, e.going_count, e.interested_count, e.default_reminders`

// postgresEventColumns are the columns scanEvent reads, with the tags as JSON.
const postgresEventColumns = `e.id, e.organizer_id, e.title, e.description, e.starts_at, e.ends_at, e.timezone,
	e.location_name, e.location_address, e.lat, e.lon, e.online_url, e.category, to_json(e.tags), e.capacity,
	e.created_at, e.updated_at, e.sequence, e.going_count, e.interested_count, e.default_reminders`

// columns returns the columns scanEvent reads in the store's dialect.
func (s *SQLStore) columns() string {
	if s.Dialect() == database.Postgres {
		return postgresEventColumns
	}
	return eventColumns
}

// scanEvent reads a row of eventColumns (or postgresEventColumns).
func scanEvent(r database.Scanner) (Event, error) {
	var (
		e                   Event
		startsAt, created   int64
		updated             int64
		endsAt, capacity    sql.NullInt64
		locName, locAddress sql.NullString
		lat, lon            sql.NullFloat64
		onlineURL, category sql.NullString
		tags, defaults      string
	)
	err := r.Scan(&e.ID, &e.OrganizerID, &e.Title, &e.Description, &startsAt, &endsAt, &e.Timezone,
		&locName, &locAddress, &lat, &lon, &onlineURL, &category, &tags, &capacity, &created, &updated, &e.Sequence,
		&e.GoingCount, &e.InterestedCount, &defaults)
	if err != nil {
		return Event{}, err
	}
	e.StartsAt, e.EndsAt = database.FromMicros(startsAt), database.FromNullMicros(endsAt)
	e.CreatedAt, e.UpdatedAt = database.FromMicros(created), database.FromMicros(updated)
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
	e.DefaultReminders = []int{}
	if defaults != "[]" { // most events have none: no decoding for them
		if err := json.Unmarshal([]byte(defaults), &e.DefaultReminders); err != nil {
			return Event{}, fmt.Errorf("event %s: default reminders: %w", e.ID, err)
		}
		if e.DefaultReminders == nil {
			e.DefaultReminders = []int{}
		}
	}
	return e, nil
}

// column is a column that an insert or an update writes: the SQL expression of its value,
// holding one placeholder, and the argument of that placeholder.
type column struct {
	name, expr string
	arg        any
}

func valueColumn(name string, arg any) column { return column{name: name, expr: "?", arg: arg} }

// writeColumns returns the columns that hold e, but for id and SQLite's seq.
func (s *SQLStore) writeColumns(e Event) ([]column, error) {
	tags := e.Tags
	if tags == nil {
		tags = []string{}
	}
	var tagsArg any = tags
	if s.Dialect() == database.SQLite {
		j, err := json.Marshal(tags)
		if err != nil {
			return nil, err
		}
		tagsArg = string(j)
	}
	var (
		locName, locAddress *string
		lat, lon            *float64
		categoryKey         *string
	)
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
	defaults := e.DefaultReminders
	if defaults == nil {
		defaults = []int{}
	}
	defaultsJSON, err := json.Marshal(defaults)
	if err != nil {
		return nil, err
	}
	cols := []column{
		valueColumn("organizer_id", e.OrganizerID),
		valueColumn("title", e.Title),
		valueColumn("description", e.Description),
		valueColumn("starts_at", database.Micros(e.StartsAt)),
		valueColumn("ends_at", database.NullMicros(e.EndsAt)),
		valueColumn("timezone", e.Timezone),
		valueColumn("location_name", locName),
		valueColumn("location_address", locAddress),
		valueColumn("lat", lat),
		valueColumn("lon", lon),
		valueColumn("online_url", e.OnlineURL),
		valueColumn("category", e.Category),
		valueColumn("category_key", categoryKey),
		valueColumn("tags", tagsArg),
		valueColumn("capacity", e.Capacity),
		valueColumn("created_at", database.Micros(e.CreatedAt)),
		valueColumn("updated_at", database.Micros(e.UpdatedAt)),
		valueColumn("sequence", e.Sequence),
		valueColumn("default_reminders", string(defaultsJSON)),
	}
	if s.Dialect() == database.Postgres {
		cols = append(cols, column{name: "search", expr: "to_tsvector('simple', ?)", arg: searchText(e)})
	}
	return cols, nil
}

// Create implements Store.
func (s *SQLStore) Create(ctx context.Context, e Event, msgs ...broker.Message) error {
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertEvent(ctx, tx, e); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, s.Dialect(), msgs...)
	})
	if err != nil {
		return fmt.Errorf("store event %s: %w", e.ID, err)
	}
	return nil
}

// insertEvent inserts e, or returns ErrConflict when its ID is taken.
func (s *SQLStore) insertEvent(ctx context.Context, tx *sql.Tx, e Event) error {
	cols, err := s.writeColumns(e)
	if err != nil {
		return err
	}
	cols = append(cols, valueColumn("id", e.ID))
	if s.Dialect() == database.SQLite {
		seq, err := nextSeq(ctx, tx, e.StartsAt)
		if err != nil {
			return err
		}
		cols = append(cols, valueColumn("seq", seq))
	}
	names, exprs, args := make([]string, len(cols)), make([]string, len(cols)), make([]any, len(cols))
	for i, c := range cols {
		names[i], exprs[i], args[i] = c.name, c.expr, c.arg
	}
	return database.ExecSome(ctx, tx, ErrConflict, s.Rebind(`INSERT INTO events (`+strings.Join(names, ", ")+`)
		VALUES (`+strings.Join(exprs, ", ")+`) ON CONFLICT (id) DO NOTHING`), args...)
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, id string) (Event, error) {
	e, err := s.getEvent(ctx, s.Prepared(), id, false)
	if err != nil {
		return Event{}, fmt.Errorf("load event %s: %w", id, err)
	}
	return e, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getEvent reads the event with the given ID, or returns ErrNotFound. With lock, it locks
// the row until the transaction ends, for a change that depends on what it read.
func (s *SQLStore) getEvent(ctx context.Context, db querier, id string, lock bool) (Event, error) {
	query := `SELECT ` + s.columns() + ` FROM events e WHERE e.id = ?`
	if lock && s.Dialect() == database.Postgres {
		query += ` FOR UPDATE`
	}
	e, err := scanEvent(db.QueryRowContext(ctx, s.Rebind(query), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, ErrNotFound
	}
	return e, err
}

// Update implements Store.
func (s *SQLStore) Update(ctx context.Context, id string, change func(Event) (Event, []broker.Message, error), announce AttendanceAnnouncer) (Event, error) {
	var updated Event
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		old, err := s.getEvent(ctx, tx, id, true)
		if err != nil {
			return err
		}
		e, msgs, err := change(old)
		if err != nil {
			return err
		}
		e.ID = old.ID
		e.GoingCount, e.InterestedCount = old.GoingCount, old.InterestedCount // attendance keeps them
		cols, err := s.writeColumns(e)
		if err != nil {
			return err
		}
		if s.Dialect() == database.SQLite && secFloor(database.Micros(e.StartsAt)) != secFloor(database.Micros(old.StartsAt)) {
			seq, err := nextSeq(ctx, tx, e.StartsAt)
			if err != nil {
				return err
			}
			cols = append(cols, valueColumn("seq", seq))
		}
		sets, args := make([]string, len(cols)), make([]any, len(cols), len(cols)+1)
		for i, c := range cols {
			sets[i], args[i] = c.name+" = "+c.expr, c.arg
		}
		if _, err := tx.ExecContext(ctx, s.Rebind(`UPDATE events SET `+strings.Join(sets, ", ")+` WHERE id = ?`),
			append(args, id)...); err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, s.Dialect(), msgs...); err != nil {
			return err
		}
		updated = normalized(e)
		if !capacityRose(old.Capacity, e.Capacity) {
			return nil
		}
		promoted, err := s.promote(ctx, tx, updated)
		if err != nil || len(promoted) == 0 {
			return err
		}
		if _, err := s.attendanceChanged(ctx, tx, updated, promoted, announce); err != nil {
			return err
		}
		updated.GoingCount += int64(len(promoted))
		return nil
	})
	if err != nil {
		return Event{}, fmt.Errorf("update event %s: %w", id, err)
	}
	return updated, nil
}

// Delete implements Store.
func (s *SQLStore) Delete(ctx context.Context, id string, at time.Time, remove func(Event) ([]broker.Message, error)) (Event, error) {
	var deleted Event
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		e, err := s.getEvent(ctx, tx, id, true)
		if err != nil {
			return err
		}
		msgs, err := remove(e)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM events WHERE id = ?`), id); err != nil {
			return err
		}
		if err := s.deleteAttendance(ctx, tx, id); err != nil {
			return err
		}
		if err := s.keepTombstone(ctx, tx, e, at); err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, s.Dialect(), msgs...); err != nil {
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

// DeleteByOrganizer implements Store. It deletes with one statement that returns the
// deleted rows, so an event created meanwhile is either deleted and announced or kept.
func (s *SQLStore) DeleteByOrganizer(ctx context.Context, organizerID, messageID string, at time.Time, announce func(Event) (broker.Message, error), attend AttendanceAnnouncer) ([]Event, error) {
	var deleted []Event
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		first, err := outbox.FirstDelivery(ctx, tx, s.Dialect(), messageID)
		if err != nil {
			return err
		}
		if !first {
			return ErrAlreadyHandled
		}
		if _, err := tx.ExecContext(ctx, s.Rebind(`DELETE FROM accounts WHERE account_id = ?`), organizerID); err != nil {
			return err
		}
		// SQLite's RETURNING takes no table name: the columns go unqualified.
		rows, err := tx.QueryContext(ctx, s.Rebind(`DELETE FROM events WHERE organizer_id = ?
			RETURNING `+strings.ReplaceAll(s.columns(), "e.", "")), organizerID)
		if err != nil {
			return err
		}
		if deleted, err = collect(rows); err != nil {
			return err
		}
		sortEvents(deleted)
		msgs := make([]broker.Message, 0, len(deleted))
		for _, e := range deleted {
			if err := s.keepTombstone(ctx, tx, e, at); err != nil {
				return err
			}
			if err := s.deleteAttendance(ctx, tx, e.ID); err != nil {
				return err
			}
			m, err := announce(e)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		if err := outbox.Add(ctx, tx, s.Dialect(), msgs...); err != nil {
			return err
		}
		return s.removeAccountAttendance(ctx, tx, organizerID, attend)
	})
	if err != nil {
		return nil, fmt.Errorf("delete events of organizer %s: %w", organizerID, err)
	}
	return deleted, nil
}

// capacityRose reports whether a capacity changed from old to cur frees places: it rose, or
// went (nil: no limit).
func capacityRose(old, cur *int64) bool {
	return old != nil && (cur == nil || *cur > *old)
}

// keepTombstone stores the tombstone of e, deleted at at, in tx (replacing an older one of
// the same ID, which only a reused ID could leave).
func (s *SQLStore) keepTombstone(ctx context.Context, tx *sql.Tx, e Event, at time.Time) error {
	j, err := json.Marshal(e.Snapshot())
	if err != nil {
		return fmt.Errorf("tombstone of event %s: %w", e.ID, err)
	}
	_, err = tx.ExecContext(ctx, s.Rebind(`INSERT INTO deleted_events (id, event, deleted_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET event = excluded.event, deleted_at = excluded.deleted_at`),
		e.ID, string(j), database.Micros(at))
	return err
}

// Tombstone implements Store.
func (s *SQLStore) Tombstone(ctx context.Context, id string) (Tombstone, error) {
	var (
		j         string
		deletedAt int64
	)
	err := s.DB().QueryRowContext(ctx, s.Rebind(`SELECT event, deleted_at FROM deleted_events WHERE id = ?`), id).
		Scan(&j, &deletedAt)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Tombstone{}, fmt.Errorf("load tombstone of event %s: %w", id, err)
	}
	t := Tombstone{DeletedAt: database.FromMicros(deletedAt)}
	if err := json.Unmarshal([]byte(j), &t.Event); err != nil {
		return Tombstone{}, fmt.Errorf("tombstone of event %s: %w", id, err)
	}
	return t, nil
}

// PruneTombstones implements Store.
func (s *SQLStore) PruneTombstones(ctx context.Context, upTo time.Time) (int64, error) {
	res, err := s.DB().ExecContext(ctx, s.Rebind(`DELETE FROM deleted_events WHERE deleted_at <= ?`), database.Micros(upTo))
	if err != nil {
		return 0, fmt.Errorf("prune tombstones: %w", err)
	}
	return res.RowsAffected()
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
	if e.DefaultReminders == nil {
		e.DefaultReminders = []int{}
	}
	if e.Location != nil && (e.Location.Lat == nil || e.Location.Lon == nil) {
		l := Location{Name: e.Location.Name, Address: e.Location.Address}
		e.Location = &l
	}
	return e
}

// collect reads the events of rows, SELECTed with the columns scanEvent reads, and closes
// rows.
func collect(rows *sql.Rows) ([]Event, error) { return database.Collect(rows, scanEvent) }

// sortEvents sorts evs in the search order: by start, then ID.
func sortEvents(evs []Event) {
	slices.SortFunc(evs, func(a, b Event) int {
		if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// conds collects the conditions and arguments of a WHERE clause.
type conds struct {
	where []string
	args  []any
}

func (c *conds) add(cond string, args ...any) {
	c.where = append(c.where, cond)
	c.args = append(c.args, args...)
}

func (c *conds) sql() string {
	if len(c.where) == 0 {
		return "TRUE"
	}
	return strings.Join(c.where, " AND ")
}

// earthRadiusKM is the mean radius of the Earth.
const earthRadiusKM = 6371.0088

// anyLon stands for every longitude in a bounding box.
var anyLon = [2]float64{-180, 180}

// timeFilters adds the conditions of q on the start time of the events row e: its bounds and
// the cursor, which both dialects write alike.
func timeFilters(c *conds, q SearchQuery) {
	if q.From != nil {
		c.add(`e.starts_at >= ?`, database.Micros(*q.From))
	}
	if q.To != nil {
		c.add(`e.starts_at <= ?`, database.Micros(*q.To))
	}
	if q.After != nil {
		c.add(`(e.starts_at, e.id) > (?, ?)`, database.Micros(q.After.Time), q.After.ID)
	}
}

// bbox bounds a circle: latitudes and one or two (across the antimeridian) longitude ranges.
type bbox struct {
	minLat, maxLat float64
	lons           [][2]float64
}

// boundingBox returns a box that holds every point of c, with a little margin.
func boundingBox(c Circle) bbox {
	const margin = 1e-6
	d := min(c.RadiusKM/earthRadiusKM, math.Pi) // angular radius
	dLat := d * 180 / math.Pi
	b := bbox{minLat: max(c.Lat-dLat-margin, -90), maxLat: min(c.Lat+dLat+margin, 90)}
	if c.Lat-dLat <= -90 || c.Lat+dLat >= 90 { // a pole is inside: every longitude
		b.lons = [][2]float64{anyLon}
		return b
	}
	r := math.Sin(d) / math.Cos(c.Lat*math.Pi/180)
	if r >= 1 {
		b.lons = [][2]float64{anyLon}
		return b
	}
	dLon := math.Asin(r)*180/math.Pi + margin
	lo, hi := c.Lon-dLon, c.Lon+dLon
	switch {
	case lo < -180:
		b.lons = [][2]float64{{lo + 360, 180}, {-180, hi}}
	case hi > 180:
		b.lons = [][2]float64{{lo, 180}, {-180, hi - 360}}
	default:
		b.lons = [][2]float64{{lo, hi}}
	}
	return b
}

// gridCells returns the cells of side size degrees that cover b, as (row, column) indexes
// counted from latitude -90 and longitude -180, or false when there are more than limit.
func gridCells(b bbox, size float64, limit int) ([][2]int, bool) {
	idx := func(v, offset float64) int { return int(math.Floor((v + offset) / size)) }
	latLo, latHi := idx(b.minLat, 90), idx(b.maxLat, 90)
	n := 0
	for _, lons := range b.lons {
		n += (idx(lons[1], 180) - idx(lons[0], 180) + 1) * (latHi - latLo + 1)
	}
	if n > limit {
		return nil, false
	}
	cells := make([][2]int, 0, n)
	for _, lons := range b.lons {
		for y := latLo; y <= latHi; y++ {
			for x := idx(lons[0], 180); x <= idx(lons[1], 180); x++ {
				cells = append(cells, [2]int{y, x})
			}
		}
	}
	return cells, true
}

// nearFilter adds the conditions that e lies within c: inside its bounding box (cheap, and
// served by an index), then nearer than its radius by the haversine formula.
func nearFilter(c *conds, circle Circle) {
	b := boundingBox(circle)
	c.add(`e.lat BETWEEN ? AND ?`, b.minLat, b.maxLat)
	if b.lons[0] != anyLon {
		var ors []string
		for _, l := range b.lons {
			ors = append(ors, `e.lon BETWEEN ? AND ?`)
			c.args = append(c.args, l[0], l[1])
		}
		c.where = append(c.where, `(`+strings.Join(ors, ` OR `)+`)`)
	}
	distanceFilter(c, circle)
}

// distanceFilter adds the condition that e is nearer than c's radius to its centre, by the
// haversine formula.
func distanceFilter(c *conds, circle Circle) {
	d := min(circle.RadiusKM/earthRadiusKM, math.Pi)
	h := math.Pow(math.Sin(d/2), 2) + 1e-12
	c.add(`pow(sin(radians(e.lat - ?) / 2), 2) + cos(radians(e.lat)) * ? * pow(sin(radians(e.lon - ?) / 2), 2) <= ?`,
		circle.Lat, math.Cos(circle.Lat*math.Pi/180), circle.Lon, h)
}

//go:embed migrations
var migrations embed.FS

// storeDB is how the events database is kept: its own migrations (migrations/sqlite,
// migrations/postgres), then the outbox's.
var storeDB = outbox.Service("events", migrations).With(idempotency.Schema)

var _ Store = (*SQLStore)(nil)

// Open opens the events database of dialect d at dsn — a SQLite file path (the file is
// created if needed) or a PostgreSQL URL (postgres://user:pass@host:port/db), which several
// replicas may open at once — and brings its schema, outbox included, up to date.
func Open(ctx context.Context, d database.Dialect, dsn string, log *slog.Logger) (*SQLStore, error) {
	if d == database.Postgres {
		var err error
		if dsn, err = withCustomPlans(dsn); err != nil {
			return nil, fmt.Errorf("open events store: %w", err)
		}
	}
	st, err := storeDB.Open(ctx, d, dsn, log)
	if err != nil {
		return nil, err
	}
	return &SQLStore{Store: st, stats: &pgStatsCache{}}, nil
}

// withCustomPlans returns the connection string dsn (a URL or keyword=value pairs) with the
// session setting plan_cache_mode=force_custom_plan, unless dsn sets it. pgx prepares each
// query once per connection, and after five runs PostgreSQL may switch a prepared query to a
// generic plan, made without the values: the plan of an average tag, word or place, which is
// the wrong one for a rare tag or a crowded city (measured: a distance search went from 0.3 ms
// to 80-200 ms). A custom plan costs a planning per search, a fraction of a millisecond.
func withCustomPlans(dsn string) (string, error) {
	const name, value = "plan_cache_mode", "force_custom_plan"
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		if strings.Contains(dsn, name) {
			return dsn, nil
		}
		return strings.TrimSpace(dsn + " " + name + "=" + value), nil
	}
	u, err := neturl.Parse(dsn)
	if err != nil {
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL, which may hold a password
		}
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	q := u.Query()
	if !q.Has(name) {
		q.Set(name, value)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
