package database

import (
	"context"
	"database/sql"
	"sync"
)

// maxPrepared bounds the statements a Store keeps prepared: the hot queries of a service
// are a handful of fixed texts, and a text past the bound is simply not kept.
const maxPrepared = 64

// Prepared runs statements on a Store's database, each text prepared once per connection
// and kept, where the plain *sql.DB makes SQLite parse and plan it again on every call
// (about 8 % of the CPU of an event read through the gateway, by profile). It is for the hot
// reads of fixed SQL, which it keeps until the Store closes; in PostgreSQL it passes every
// call to the database as it is, since pgx already keeps each connection's statements
// prepared. A statement that fails to prepare runs unprepared, so its error is the
// database's. Safe for concurrent use.
type Prepared struct {
	db *sql.DB
	mu sync.RWMutex
	// stmts is nil in PostgreSQL.
	stmts map[string]*sql.Stmt
}

// newPrepared returns the Prepared of db, a database of dialect d.
func newPrepared(db *sql.DB, d Dialect) *Prepared {
	p := &Prepared{db: db}
	if d == SQLite {
		p.stmts = map[string]*sql.Stmt{}
	}
	return p
}

// stmt returns the prepared statement of query, preparing it when it is new; nil when the
// query is not to be kept (PostgreSQL, the bound reached) or does not prepare.
func (p *Prepared) stmt(ctx context.Context, query string) *sql.Stmt {
	if p.stmts == nil {
		return nil
	}
	p.mu.RLock()
	st, ok := p.stmts[query]
	p.mu.RUnlock()
	if ok {
		return st
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.stmts[query]; ok {
		return st
	}
	if len(p.stmts) >= maxPrepared {
		return nil
	}
	st, err := p.db.PrepareContext(context.WithoutCancel(ctx), query) //nolint:sqlclosecheck // kept, closed by close
	if err != nil {
		return nil
	}
	p.stmts[query] = st
	return st
}

// QueryRowContext is sql.DB's, with query prepared once.
func (p *Prepared) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil { //nolint:sqlclosecheck // kept, closed by close
		return st.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// QueryContext is sql.DB's, with query prepared once.
func (p *Prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil { //nolint:sqlclosecheck // kept, closed by close
		return st.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

// ExecContext is sql.DB's, with query prepared once.
func (p *Prepared) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil { //nolint:sqlclosecheck // kept, closed by close
		return st.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

// close closes the statements kept.
func (p *Prepared) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for q, st := range p.stmts {
		_ = st.Close()
		delete(p.stmts, q)
	}
}
