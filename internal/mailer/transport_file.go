package mailer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/eventpost/eventpost/internal/platform/private"
)

// FileTransport writes each message as an RFC 5322 .eml file in a directory: the embedded
// mode's mailbox. File names sort by the time of writing ("20270301T183000.123456789Z-<random>.eml").
// A file appears complete or not at all: it is written under a temporary name, synced, then
// renamed. The directory and the files are readable by their owner only (private.DirMode
// and private.FileMode), whatever the umask: mails hold addresses and notes.
type FileTransport struct {
	dir     string
	now     func() time.Time
	dirSync groupSync
}

var (
	_ Transport   = (*FileTransport)(nil)
	_ BatchSender = (*FileTransport)(nil)
)

// NewFileTransport returns a transport writing into dir, which it creates if needed. An
// existing dir, or mail files in it, open to other users are made private (see
// private.MkdirAll and private.TightenFiles), which is logged to log (nil discards).
func NewFileTransport(dir string, log *slog.Logger) (*FileTransport, error) {
	if err := private.MkdirAll(dir, log); err != nil {
		return nil, fmt.Errorf("mail dir: %w", err)
	}
	if err := private.TightenFiles(dir, log); err != nil {
		return nil, fmt.Errorf("mail dir: %w", err)
	}
	t := &FileTransport{dir: dir, now: time.Now}
	t.dirSync.sync = t.syncDir
	return t, nil
}

// Dir returns the directory the transport writes into.
func (t *FileTransport) Dir() string { return t.dir }

// Send implements Transport. Every error is transient (a full disk may be freed).
func (t *FileTransport) Send(ctx context.Context, e Email) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp, err := t.writeTemp(e.Data, true)
	if err != nil {
		return err
	}
	if err := t.publish(tmp); err != nil {
		return err
	}
	// Make the rename itself durable, so that a recorded "sent" never points at nothing.
	t.dirSync.Do()
	return nil
}

// SendBatch implements BatchSender: it writes every email under a temporary name, flushes
// them to the disk with one sync of the file system (syncfs(2), on Linux; elsewhere an fsync
// of each file), renames them, and syncs the directory once. Every error is transient.
func (t *FileTransport) SendBatch(ctx context.Context, es []Email) []error {
	errs := make([]error, len(es))
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	tmps := make([]string, len(es))
	for i, e := range es {
		tmps[i], errs[i] = t.writeTemp(e.Data, !haveSyncFS)
	}
	if err := t.syncFS(); err != nil {
		for i := range errs {
			if errs[i] == nil {
				os.Remove(tmps[i])
				errs[i] = fmt.Errorf("write mail file: %w", err)
			}
		}
		return errs
	}
	for i := range es {
		if errs[i] == nil {
			errs[i] = t.publish(tmps[i])
		}
	}
	t.dirSync.Do()
	return errs
}

// writeTemp writes data into a new temporary file of the directory, readable by its owner
// only, synced when sync is set, and returns its path.
func (t *FileTransport) writeTemp(data []byte, sync bool) (string, error) {
	f, err := os.CreateTemp(t.dir, ".writing-*.tmp")
	if err != nil {
		return "", fmt.Errorf("write mail file: %w", err)
	}
	if err := writeFile(f, data, sync); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write mail file: %w", err)
	}
	return f.Name(), nil
}

// publish renames the temporary file tmp to the mail file's name, which sorts by the time of
// writing.
func (t *FileTransport) publish(tmp string) error {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write mail file: %w", err)
	}
	name := t.now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(rnd[:]) + ".eml"
	if err := os.Rename(tmp, filepath.Join(t.dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write mail file %s: %w", name, err)
	}
	return nil
}

// syncDir flushes the directory's entries to the disk, best effort (as before a failure
// here, the file is written and synced).
func (t *FileTransport) syncDir() {
	if d, err := os.Open(t.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// groupSync shares one fsync among concurrent callers: Do returns once a sync that began
// after Do was called has ended. A caller that arrives while a sync runs waits for it to
// end, then for the next, which it or another waiter starts, and which covers every caller
// that arrived meanwhile: concurrent sends pay about one directory sync between them.
type groupSync struct {
	sync func()

	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	started uint64 // syncs begun
	ended   uint64 // syncs ended (they run one at a time, so the one numbered ended)
}

// Do waits for a sync that began after it was called.
func (g *groupSync) Do() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	want := g.started + 1 // the next sync to begin
	for g.ended < want {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		n := g.started
		g.mu.Unlock()
		g.sync()
		g.mu.Lock()
		g.running, g.ended = false, n
		g.cond.Broadcast()
	}
}

// writeFile writes data to f, syncs it when sync is set, makes it private and closes it.
func writeFile(f *os.File, data []byte, sync bool) error {
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Chmod(private.FileMode); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Check implements Transport: it creates and removes a file in the directory, so that a
// directory that was removed, or a full or read-only file system, is reported.
func (t *FileTransport) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(t.dir, ".check-*.tmp")
	if err != nil {
		return fmt.Errorf("mail directory %s is not writable: %w", t.dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("mail directory %s: %w", t.dir, err)
	}
	return nil
}

// Close implements Transport; there is nothing to release.
func (t *FileTransport) Close() error { return nil }
