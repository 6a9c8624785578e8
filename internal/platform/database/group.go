package database

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
)

// txGroup is the queue of a SQLite store's transactions (InTx) that wait for its writer.
// Whoever gets the writer next runs every queued transaction, up to maxGroup, in one
// database transaction, each in a savepoint of its own, and commits them at once: a commit
// waits for the disk, so a busy store pays that wait once per group instead of once per
// transaction.
type txGroup struct {
	mu    sync.Mutex
	queue []*txJob
}

// txJob is one InTx call waiting in a txGroup.
type txJob struct {
	ctx context.Context
	fn  func(tx *sql.Tx) error
	// taken is set, under txGroup.mu, when a group takes the job out of the queue: from then
	// on it runs (or reports that its context ended) and done says how it went.
	taken bool
	done  chan error // buffered: the group never waits for the caller
}

// maxGroup bounds how many transactions one commit carries, so that a long queue is worked
// off in steps and the first caller does not wait for the last one's work.
const maxGroup = 128

// panicked carries a panic of an fn from the goroutine that ran the group to the caller,
// which panics with it again.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("panic in a transaction: %v", p.v) }

// groupTx is InTx for SQLite: it queues fn, and either a group that another caller runs
// takes it, or this caller gets the writer first and runs the group itself.
func (s Store) groupTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g := s.group
	j := &txJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, j)
	g.mu.Unlock()
	for {
		select {
		case err := <-j.done:
			return result(err)
		case s.writer <- struct{}{}:
			s.runGroup(g.take())
			<-s.writer
			select {
			case err := <-j.done:
				return result(err)
			default: // queued after that group was taken: the next one
			}
		case <-ctx.Done():
			if g.drop(j) {
				return ctx.Err()
			}
			return result(<-j.done) // a group has it: it ran or it is running
		}
	}
}

// result returns err, or panics again with an fn's panic.
func result(err error) error {
	if p, ok := err.(panicked); ok {
		panic(p.v)
	}
	return err
}

// take removes up to maxGroup jobs from the front of the queue and marks them taken.
func (g *txGroup) take() []*txJob {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(g.queue), maxGroup)
	jobs := slices.Clone(g.queue[:n])
	g.queue = slices.Delete(g.queue, 0, n)
	for _, j := range jobs {
		j.taken = true
	}
	return jobs
}

// drop removes j from the queue unless a group took it, and reports whether it did.
func (g *txGroup) drop(j *txJob) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if j.taken {
		return false
	}
	g.queue = slices.DeleteFunc(g.queue, func(q *txJob) bool { return q == j })
	return true
}

// runGroup runs jobs in one transaction and tells each how it went. The caller holds the
// writer.
func (s Store) runGroup(jobs []*txJob) {
	if len(jobs) == 0 {
		return
	}
	errs := s.commitGroup(jobs)
	for i, j := range jobs {
		j.done <- errs[i]
	}
}

// commitGroup runs jobs in one transaction, each fn in a savepoint of its own (but for a
// group of one), and commits what succeeded. A job whose context ended before its turn does
// not run. An error of the transaction itself (begin, a savepoint, commit) fails every job
// that had not failed on its own: nothing of the group is committed then.
func (s Store) commitGroup(jobs []*txJob) []error {
	errs := make([]error, len(jobs))
	// The group's statements outlive the context of any one caller: a caller that gives up
	// while its fn runs does not roll back the others'.
	ctx := context.WithoutCancel(jobs[0].ctx)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return failRest(errs, fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var succeeded bool
	if len(jobs) == 1 {
		errs[0] = jobs[0].run(tx)
		succeeded = errs[0] == nil
	} else if succeeded, err = runInSavepoints(ctx, tx, jobs, errs); err != nil {
		return failRest(errs, fmt.Errorf("group transaction: %w", err))
	}
	if !succeeded {
		return errs // nothing to commit: the deferred Rollback ends the transaction
	}
	if err := tx.Commit(); err != nil {
		return failRest(errs, fmt.Errorf("commit: %w", err))
	}
	return errs
}

// runInSavepoints runs each job in tx in a savepoint of its own, sets its error in errs (what a
// job that failed did is undone, the others' work stays), and reports whether any job
// succeeded. Its error is the transaction's own: should SQLite have rolled back the whole
// transaction (an interrupted statement can), the savepoint is gone and this fails the group.
func runInSavepoints(ctx context.Context, tx *sql.Tx, jobs []*txJob, errs []error) (succeeded bool, err error) {
	for i, j := range jobs {
		if errs[i] = j.ctx.Err(); errs[i] != nil {
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT txgroup`); err != nil {
			return false, err
		}
		if errs[i] = runFn(j.fn, tx); errs[i] != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO txgroup`); err != nil {
				return false, err
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE txgroup`); err != nil {
			return false, err
		}
		succeeded = succeeded || errs[i] == nil
	}
	return succeeded, nil
}

// failRest sets err as the error of every job in errs that has none, and returns errs.
func failRest(errs []error, err error) []error {
	for i := range errs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
	return errs
}

// run runs the job's fn in tx, unless its context ended.
func (j *txJob) run(tx *sql.Tx) error {
	if err := j.ctx.Err(); err != nil {
		return err
	}
	return runFn(j.fn, tx)
}

// runFn runs fn in tx and turns a panic into a panicked error, which the caller that queued
// fn raises again.
func runFn(fn func(tx *sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return fn(tx)
}
