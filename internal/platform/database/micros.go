package database

import (
	"database/sql"
	"time"
)

// The stores keep every time as an integer: unix microseconds (BIGINT in PostgreSQL, INTEGER
// in SQLite), the precision of Go's times as the services truncate them. Integers order, index
// and compare alike in both dialects.

// Micros returns t in unix microseconds, as the stores keep it.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros returns the time of us, unix microseconds, in UTC.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// NullMicros returns *t in unix microseconds, or nil (NULL) when t is nil.
func NullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return Micros(*t)
}

// FromNullMicros returns the time of us, or nil when us is NULL.
func FromNullMicros(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := FromMicros(us.Int64)
	return &t
}
