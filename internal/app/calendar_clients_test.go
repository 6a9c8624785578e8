package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventpost/eventpost/internal/platform/integration"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
)

// icalJSVersion is the version of ical.js, the iCalendar parser of Thunderbird, that the
// calendar-client test reads with; testdata/icaljs pins it with its package-lock.json.
const icalJSVersion = "2.2.1"

// calendarClientUnavailable ends t because what the calendar-client test needs is missing:
// t skips with how to enable it, or fails when EVENTPOST_INTEGRATION=1.
func calendarClientUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if integration.Required() {
		t.Fatalf("%s; EVENTPOST_INTEGRATION=1 requires it", msg)
	}
	t.Skipf("%s: skipping; install Node.js and npm (the test installs ical.js %s from the npm registry into "+
		".cache/npm at the repository root on its first run and reuses it later), and set EVENTPOST_INTEGRATION=1 "+
		"to make this a failure", msg, icalJSVersion)
}

// installICALJS returns the path of node and of ical.js's module, installing ical.js with
// npm ci (testdata/icaljs's package.json and package-lock.json) into .cache/npm/icaljs at the
// repository root unless an earlier run installed it from the same lock file.
func installICALJS(t *testing.T) (node, module string) {
	t.Helper()
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	if err := errors.Join(nodeErr, npmErr); err != nil {
		calendarClientUnavailable(t, "Node.js or npm is not on PATH (%v)", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the repository root is not at %s: %v", root, err)
	}
	lock, err := os.ReadFile(filepath.Join("testdata", "icaljs", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join("testdata", "icaljs", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(append([]byte{}, manifest...), lock...))
	stamp := hex.EncodeToString(sum[:])
	dir := filepath.Join(root, ".cache", "npm", "icaljs")
	module = filepath.Join(dir, "node_modules", "ical.js", "dist", "ical.js")
	marker := filepath.Join(dir, "installed")
	if got, err := os.ReadFile(marker); err == nil && string(got) == stamp {
		if _, err := os.Stat(module); err == nil {
			return node, module
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"package.json": manifest, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts",
		"--cache", filepath.Join(root, ".cache", "npm", "_cacache"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		calendarClientUnavailable(t, "npm ci of ical.js %s in %s failed (%v):\n%s", icalJSVersion, dir, err, out)
	}
	if err := os.WriteFile(marker, []byte(stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	return node, module
}

// icalEvent is one VEVENT as ical.js reads it (see testdata/icaljs/read.mjs).
type icalEvent struct {
	UID          string     `json:"uid"`
	Sequence     *int       `json:"sequence"`
	Status       *string    `json:"status"`
	Summary      string     `json:"summary"`
	Start        *time.Time `json:"start"`
	End          *time.Time `json:"end"`
	LastModified *time.Time `json:"lastModified"`
}

// icalObject is one calendar object as ical.js reads it.
type icalObject struct {
	Error   string      `json:"error"`
	Method  string      `json:"method"`
	Version string      `json:"version"`
	Events  []icalEvent `json:"events"`
}

// readWithICALJS reads each calendar object of objects (by name) with ical.js.
func readWithICALJS(t *testing.T, node, module string, objects map[string]string) map[string]icalObject {
	t.Helper()
	in, err := json.Marshal(objects)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), node, filepath.Join("testdata", "icaljs", "read.mjs"), module)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node read.mjs: %v\n%s", err, stderr.String())
	}
	var read map[string]icalObject
	if err := json.Unmarshal(out, &read); err != nil {
		t.Fatalf("node read.mjs printed %s: %v", out, err)
	}
	return read
}

// deref returns *p, or nil when p is nil, for logs.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// calendarObject is an object the system emitted, with the method its Content-Type names.
type calendarObject struct {
	text   string
	method string // the method= parameter of its Content-Type
}

// exportOf fetches the .ics export of the event id.
func exportOf(t *testing.T, c *client, id string) calendarObject {
	t.Helper()
	r := c.do("GET", "/api/v1/events/"+id+"/ics", "", nil)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Status != 200 || err != nil || mt != "text/calendar" {
		t.Fatalf("export of %s: %d %q (%v)\n%s", id, r.Status, r.Header.Get("Content-Type"), err, r.Body)
	}
	return calendarObject{text: string(r.Body), method: params["method"]}
}

// attachedCalendar returns the one text/calendar attachment of the mail p.
func attachedCalendar(t *testing.T, p *smtptest.Parsed, what string) calendarObject {
	t.Helper()
	var found []calendarObject
	for _, a := range p.Attachments {
		if a.ContentType == "text/calendar" {
			found = append(found, calendarObject{text: string(a.Data), method: a.Params["method"]})
		}
	}
	if len(found) != 1 {
		t.Fatalf("the %s mail carries %d calendar attachments, want 1: %v", what, len(found), p.Attachments)
	}
	return found[0]
}

// TestCalendarClientsFollowTheEvent reads every calendar object the system emits about one
// event with ical.js, Thunderbird's parser, as a calendar would take them in turn: the export
// and the reminder's attachment while the event is as created, the export and the
// event_changed mail's attachment once it has moved, and the event_cancelled mail's
// attachment once it is deleted. Each must parse, keep the UID, name its METHOD in its
// Content-Type, carry a SEQUENCE that rises with each change, the event's times, and for the
// cancellation METHOD:CANCEL with STATUS:CANCELLED; the export of the deleted event answers
// the same VEVENT, METHOD:PUBLISH with STATUS:CANCELLED and the higher SEQUENCE, so that a
// calendar subscribed to the export removes it too.
func TestCalendarClientsFollowTheEvent(t *testing.T) {
	node, module := installICALJS(t)
	c, smtp, _ := startSystem(t)
	alice, _ := c.signUpAndLogIn("alice@example.com", "Alice")
	bob, _ := c.signUpAndLogIn("bob@example.com", "Bob")

	const title = "Fête de la musique, rooftop; live"
	start := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Minute)
	end := start.Add(2 * time.Hour)
	ev := c.must(201, "POST", "/api/v1/events", alice, map[string]any{
		"title": title, "starts_at": rfc3339(start), "ends_at": rfc3339(end), "timezone": "Europe/Paris",
	})
	id := ev["id"].(string)
	before := exportOf(t, c, id)

	// Bob's reminder mail arrives before the change; his relative reminder stays scheduled,
	// so the change and the cancellation are mailed to him too.
	c.must(201, "POST", "/api/v1/notifications", bob, map[string]any{"event_id": id, "minutes_before": 30})
	c.must(201, "POST", "/api/v1/notifications", bob, map[string]any{
		"event_id": id, "send_at": rfc3339(time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)),
	})
	_, reminder := mailTo(t, smtp, "bob@example.com", "Reminder: "+title)

	newStart, newEnd := start.Add(time.Hour), end.Add(time.Hour)
	c.must(200, "PATCH", "/api/v1/events/"+id, alice, map[string]any{"starts_at": rfc3339(newStart), "ends_at": rfc3339(newEnd)})
	after := exportOf(t, c, id)
	_, changed := mailTo(t, smtp, "bob@example.com", "Changed: "+title)

	c.must(204, "DELETE", "/api/v1/events/"+id, alice, nil)
	_, cancelled := mailTo(t, smtp, "bob@example.com", "Cancelled: "+title)
	deleted := exportOf(t, c, id)

	objects := map[string]calendarObject{
		"export before the change":          before,
		"reminder mail's attachment":        attachedCalendar(t, reminder, "reminder"),
		"export after the change":           after,
		"event_changed mail's attachment":   attachedCalendar(t, changed, "event_changed"),
		"event_cancelled mail's attachment": attachedCalendar(t, cancelled, "event_cancelled"),
		"export after the delete":           deleted,
	}
	texts := map[string]string{}
	for name, o := range objects {
		texts[name] = o.text
	}
	read := readWithICALJS(t, node, module, texts)
	for _, name := range slices.Sorted(maps.Keys(read)) {
		o := read[name]
		for _, e := range o.Events {
			t.Logf("ical.js reads the %s: METHOD %s, UID %s, SEQUENCE %v, STATUS %v, %v to %v", name, o.Method, e.UID,
				deref(e.Sequence), deref(e.Status), deref(e.Start), deref(e.End))
		}
	}

	// event reads the one VEVENT of the object name, checked for what every object needs.
	uid := ""
	event := func(name string) icalEvent {
		t.Helper()
		o, ok := read[name]
		switch {
		case !ok:
			t.Fatalf("ical.js did not read the %s", name)
		case o.Error != "":
			t.Fatalf("ical.js refuses the %s: %s\n%s", name, o.Error, texts[name])
		case len(o.Events) != 1:
			t.Fatalf("the %s holds %d events, want 1\n%s", name, len(o.Events), texts[name])
		case o.Version != "2.0" || o.Method == "" || !strings.EqualFold(objects[name].method, o.Method):
			t.Errorf("the %s: VERSION %q, METHOD %q, Content-Type method=%q; want 2.0 and a method named in both",
				name, o.Version, o.Method, objects[name].method)
		}
		e := o.Events[0]
		if uid == "" {
			uid = e.UID
		}
		if e.UID == "" || e.UID != uid || !strings.Contains(e.UID, id) {
			t.Errorf("the %s: UID %q, want the event's UID %q throughout (naming the event %s)", name, e.UID, uid, id)
		}
		if e.Sequence == nil || e.LastModified == nil || e.Summary != title {
			t.Errorf("the %s: SEQUENCE %v, LAST-MODIFIED %v, SUMMARY %q; want both set and the title", name, e.Sequence, e.LastModified, e.Summary)
			t.FailNow()
		}
		return e
	}
	times := func(name string, e icalEvent, start, end time.Time) {
		t.Helper()
		if e.Start == nil || e.End == nil || !e.Start.Equal(start) || !e.End.Equal(end) {
			t.Errorf("the %s: DTSTART %v, DTEND %v; want %s and %s", name, e.Start, e.End, start, end)
		}
	}
	live := func(name string, e icalEvent) {
		t.Helper()
		if read[name].Method != "PUBLISH" || e.Status != nil && *e.Status != "CONFIRMED" {
			t.Errorf("the %s: METHOD %q, STATUS %v; want PUBLISH and a live event", name, read[name].Method, e.Status)
		}
	}

	first := event("export before the change")
	live("export before the change", first)
	times("export before the change", first, start, end)

	rem := event("reminder mail's attachment")
	live("reminder mail's attachment", rem)
	times("reminder mail's attachment", rem, start, end)
	if *rem.Sequence != *first.Sequence {
		t.Errorf("the reminder's SEQUENCE %d, want the export's %d (nothing changed in between)", *rem.Sequence, *first.Sequence)
	}

	moved := event("export after the change")
	live("export after the change", moved)
	times("export after the change", moved, newStart, newEnd)
	if *moved.Sequence <= *first.Sequence {
		t.Errorf("SEQUENCE %d after the move, want more than %d: a calendar would keep the old time", *moved.Sequence, *first.Sequence)
	}

	upd := event("event_changed mail's attachment")
	live("event_changed mail's attachment", upd)
	times("event_changed mail's attachment", upd, newStart, newEnd)
	if *upd.Sequence != *moved.Sequence {
		t.Errorf("the event_changed mail's SEQUENCE %d, want the export's %d after the same change", *upd.Sequence, *moved.Sequence)
	}

	gone := event("event_cancelled mail's attachment")
	if m := read["event_cancelled mail's attachment"].Method; m != "CANCEL" || gone.Status == nil || *gone.Status != "CANCELLED" {
		t.Errorf("the cancellation: METHOD %q, STATUS %v; want CANCEL and CANCELLED", m, gone.Status)
	}
	times("event_cancelled mail's attachment", gone, newStart, newEnd)
	if *gone.Sequence <= *moved.Sequence {
		t.Errorf("the cancellation's SEQUENCE %d, want more than %d: a calendar would ignore it", *gone.Sequence, *moved.Sequence)
	}

	dead := event("export after the delete")
	if m := read["export after the delete"].Method; m != "PUBLISH" || dead.Status == nil || *dead.Status != "CANCELLED" {
		t.Errorf("the export after the delete: METHOD %q, STATUS %v; want PUBLISH and CANCELLED", m, dead.Status)
	}
	times("export after the delete", dead, newStart, newEnd)
	if *dead.Sequence <= *moved.Sequence {
		t.Errorf("the export's SEQUENCE %d after the delete, want more than %d: a subscribed calendar would keep the event", *dead.Sequence, *moved.Sequence)
	}
}
