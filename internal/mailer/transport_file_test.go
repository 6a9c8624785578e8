package mailer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

func TestFileTransportWritesCompleteEMLFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "mail") // created by the transport
	tr, err := mailer.NewFileTransport(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	r := newRenderer(t)

	const n = 6
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		m, id, err := r.Render(messages.EmailSend{
			Kind: messages.EmailReminder, To: "ann@example.com", Event: testEvent(), Note: "note",
		}, renderNow)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = "<" + id + ">"
		e, err := mailer.EmailOf(m)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { // concurrent sends must not clash
			defer wg.Done()
			if err := tr.Send(context.Background(), e); err != nil {
				t.Errorf("Send: %v", err)
			}
		}()
	}
	wg.Wait()

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names, gotIDs []string
	for _, e := range entries {
		names = append(names, e.Name())
		if !strings.HasSuffix(e.Name(), ".eml") {
			t.Errorf("unexpected file %q (a temporary file left behind?)", e.Name())
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		p, err := smtptest.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if p.Text == "" || p.HTML == "" || p.Attachments["event.ics"].Data == nil {
			t.Errorf("%s: incomplete message (text %t, html %t, attachments %d)", e.Name(), p.Text != "", p.HTML != "", len(p.Attachments))
		}
		if !strings.Contains(string(raw), "\r\n") || strings.Contains(strings.ReplaceAll(string(raw), "\r\n", ""), "\n") {
			t.Errorf("%s: lines do not all end in CRLF", e.Name())
		}
		gotIDs = append(gotIDs, p.Header.Get("Message-Id"))
	}
	if len(names) != n {
		t.Fatalf("%d files, want %d: %v", len(names), n, names)
	}
	slices.Sort(ids)
	slices.Sort(gotIDs)
	if !slices.Equal(ids, gotIDs) {
		t.Errorf("Message-IDs in files %v, want %v", gotIDs, ids)
	}
	// Names start with a fixed-width UTC timestamp, so they sort by time.
	for _, name := range names {
		if len(name) < len("20060102T150405.000000000Z-") || name[8] != 'T' || name[15] != '.' || name[25] != 'Z' || name[26] != '-' {
			t.Errorf("file name %q does not start with a sortable timestamp", name)
		}
	}
}

func TestFileTransportCancelledContext(t *testing.T) {
	dir := t.TempDir()
	tr, err := mailer.NewFileTransport(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	m := welcomeMsg(t, "ann@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Send(ctx, m); err == nil {
		t.Error("Send with a cancelled context succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}

// TestFileTransportSendBatch: a batch writes each email as a complete, private .eml file and
// leaves no temporary file behind.
func TestFileTransportSendBatch(t *testing.T) {
	dir := t.TempDir()
	tr, err := mailer.NewFileTransport(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var es []mailer.Email
	for i := range 5 {
		es = append(es, mailer.Email{From: "a@example.com", To: "b@example.com", Data: fmt.Appendf(nil, "Subject: %d\r\n\r\nbody %d\r\n", i, i)})
	}
	for i, err := range tr.SendBatch(context.Background(), es) {
		if err != nil {
			t.Errorf("email %d: %v", i, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") {
			t.Errorf("unexpected file %q", e.Name())
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	slices.Sort(bodies)
	if len(bodies) != 5 || bodies[0] != string(es[0].Data) || bodies[4] != string(es[4].Data) {
		t.Errorf("mail files hold %q, want the 5 emails", bodies)
	}
}
