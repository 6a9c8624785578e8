package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/logging/logtest"
)

// TestParseReplicas: --replicas and EVENTPOST_LAUNCH_REPLICAS take service=N lists, each N
// from 1 to 9 of a service the launcher runs replicas of; anything else is refused.
func TestParseReplicas(t *testing.T) {
	good := []struct {
		list string
		want map[string]int
	}{
		{"notifications=3", map[string]int{discovery.Notifications: 3}},
		{"notifications=1,mailer=9", map[string]int{discovery.Notifications: 1, discovery.Mailer: 9}},
		{" auth=2 , events=4", map[string]int{discovery.Auth: 2, discovery.Events: 4}},
		{"mailer=2,mailer=5", map[string]int{discovery.Mailer: 5}},
	}
	for _, tt := range good {
		got := map[string]int{}
		if err := parseReplicas(tt.list, got); err != nil {
			t.Errorf("parseReplicas(%q): %v", tt.list, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseReplicas(%q) (-want +got):\n%s", tt.list, diff)
		}
	}
	bad := map[string]string{
		"":                         "want service=N",
		"notifications":            "want service=N",
		"notifications=3,":         "want service=N",
		"gateway=2":                "the gateway runs as one process",
		"billing=2":                "unknown service",
		"Notifications=2":          "unknown service",
		"notifications=0":          "want from 1 to 9",
		"notifications=10":         "want from 1 to 9",
		"notifications=-1":         "want from 1 to 9",
		"notifications=two":        "want from 1 to 9",
		"mailer=2,notifications=x": "want from 1 to 9",
	}
	for list, want := range bad {
		if err := parseReplicas(list, map[string]int{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseReplicas(%q) = %v; want an error saying %q", list, err, want)
		}
	}
}

// TestLaunchConfigReplicas: the launcher's replicas come from the roster, then
// EVENTPOST_LAUNCH_REPLICAS, then each --replicas; every replica gets its port.
func TestLaunchConfigReplicas(t *testing.T) {
	env := func(kv map[string]string) func(string) string {
		return func(k string) string {
			if k == "EVENTPOST_CONSUL_ADDR" {
				return "127.0.0.1:8500" // no consul executable needed
			}
			return kv[k]
		}
	}
	cfg, err := launchConfig([]string{"--replicas", "notifications=3", "--replicas=events=2,mailer=1"},
		env(map[string]string{"EVENTPOST_LAUNCH_REPLICAS": "mailer=4,auth=2", "EVENTPOST_LAUNCH_BASE_PORT": "9080"}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{
		discovery.Auth: {9081, 9091}, discovery.Events: {9082, 9092},
		discovery.Notifications: {9083, 9093, 9103}, discovery.Mailer: {9084},
	}
	if diff := cmp.Diff(want, cfg.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	def, err := launchConfig(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{discovery.Auth: 1, discovery.Events: 1, discovery.Notifications: 2, discovery.Mailer: 2}, def.Replicas); diff != "" {
		t.Errorf("default replicas (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--replicas", "mailer=12"}, want: "want from 1 to 9"},
		{args: []string{"--replicas"}, want: "flag needs an argument"},
		{args: []string{"--workers=2"}, want: "flag provided but not defined"},
		{args: []string{"mailer=2"}, want: `unexpected argument "mailer=2"`},
		{env: map[string]string{"EVENTPOST_LAUNCH_REPLICAS": "gateway=2"}, want: "EVENTPOST_LAUNCH_REPLICAS: "},
	} {
		if _, err := launchConfig(tt.args, env(tt.env)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("launchConfig(%q, %v) = %v; want an error saying %q", tt.args, tt.env, err, tt.want)
		}
	}
}

// TestRestartBackoff: the delay before a restart starts at 0.5 s, doubles with each exit in a
// row up to 30 s (each ±20%), and starts over after a run that was ready for a minute — not
// after a shorter one.
func TestRestartBackoff(t *testing.T) {
	var b restartBackoff
	steps := []struct {
		ready time.Duration
		want  time.Duration
	}{
		{0, 500 * time.Millisecond}, {0, time.Second}, {0, 2 * time.Second}, {5 * time.Second, 4 * time.Second},
		{0, 8 * time.Second}, {0, 16 * time.Second}, {59 * time.Second, 30 * time.Second}, {0, 30 * time.Second},
		{time.Minute, 500 * time.Millisecond}, {0, time.Second},
		{time.Hour, 500 * time.Millisecond},
	}
	for i, s := range steps {
		got := b.next(s.ready)
		if got < s.want*8/10 || got > s.want*12/10 {
			t.Errorf("exit %d (ready for %s): delay %s; want %s ±20%%", i+1, s.ready, got, s.want)
		}
	}
}

// TestSuperviseRestartsAnExitedProcess runs a stand-in for a service (a shell script) under
// Supervise, with an HTTP server answering its /readyz: a killed process is started again, a
// new one that turns ready, each change logged; one that keeps exiting is restarted after
// growing delays; after Stop, nothing starts again.
func TestSuperviseRestartsAnExitedProcess(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
		}
	}))
	defer ready.Close()
	dir := t.TempDir()
	script := filepath.Join(dir, "service")
	// "serve notifications" runs until killed; "serve mailer" exits at once, with status 3.
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$2\" = mailer ] && exit 3\nexec sleep 300\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	steady := &Process{Service: discovery.Notifications, Index: 1, Addr: strings.TrimPrefix(ready.URL, "http://")}
	crashing := &Process{Service: discovery.Mailer, Addr: "127.0.0.1:1"}
	c := &Cluster{cfg: ClusterConfig{Binary: script}, log: logging.New(&logs, nil), Processes: []*Process{steady, crashing}}
	for _, p := range c.Processes {
		if err := c.Start(p); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.Stop)

	ctx, cancel := context.WithCancel(context.Background())
	supervised := make(chan struct{})
	go func() { c.Supervise(ctx); close(supervised) }()
	defer func() { cancel(); <-supervised }()

	waitUntil(t, "notifications-2 ready", func() bool { return steady.State() == StateReady })
	first := steady.PID()
	if err := c.Kill(steady); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "notifications-2 restarted and ready", func() bool { return steady.PID() != first && steady.State() == StateReady })
	if err := syscall.Kill(first, 0); err == nil {
		t.Errorf("the killed process %d still runs", first)
	}
	waitUntil(t, "mailer-1 restarted twice", func() bool { return logs.Count(`"msg":"mailer-1 restarting`) >= 2 })

	lines := statusLines(t, logs.String())
	var steadyStates, delays []string
	for _, l := range lines {
		switch l.Process.Service {
		case discovery.Notifications:
			steadyStates = append(steadyStates, l.State)
			if l.Process.Replica != 2 || l.Process.Addr != steady.Addr || l.Process.PID == 0 {
				t.Errorf("status line names %+v; want notifications replica 2 at %s with its pid", l.Process, steady.Addr)
			}
			if l.State == string(StateRestarting) && (l.Exit != "signal: killed" || l.Process.PID != first) {
				t.Errorf("restart after the kill logged exit %q of pid %d; want signal: killed of %d", l.Exit, l.Process.PID, first)
			}
		case discovery.Mailer:
			if l.State == string(StateRestarting) {
				if l.Exit != "exit status 3" {
					t.Errorf("mailer-1 exit logged as %q; want exit status 3", l.Exit)
				}
				delays = append(delays, l.RestartIn)
			}
		}
	}
	if diff := cmp.Diff([]string{"starting", "ready", "restarting", "starting", "ready"}, steadyStates); diff != "" {
		t.Errorf("notifications-2's states (-want +got):\n%s", diff)
	}
	if len(delays) < 2 {
		t.Fatalf("mailer-1's restarts: %v", delays)
	}
	d1, err1 := time.ParseDuration(delays[0])
	d2, err2 := time.ParseDuration(delays[1])
	if err1 != nil || err2 != nil || d1 < 400*time.Millisecond || d1 > 600*time.Millisecond || d2 < 800*time.Millisecond || d2 > 1200*time.Millisecond {
		t.Errorf("mailer-1's first restart delays %v; want 0.5 s then 1 s (±20%%)", delays)
	}

	c.Stop()
	if steady.State() != StateExited {
		t.Errorf("after Stop, notifications-2 is %s; want exited", steady.State())
	}
	pid := steady.PID()
	cancel()
	<-supervised
	if err := c.Start(steady); err == nil || steady.PID() != pid {
		t.Errorf("Start after Stop = %v, pid %d → %d; want refused", err, pid, steady.PID())
	}
}

// statusLine is one of the launcher's status lines, as JSON.
type statusLine struct {
	Msg     string
	Process struct {
		Service string
		Replica int
		PID     int
		Addr    string
	}
	State     string
	Exit      string
	RestartIn string `json:"restart_in"`
}

// statusLines parses the status lines of log.
func statusLines(t *testing.T, log string) []statusLine {
	t.Helper()
	var lines []statusLine
	for _, s := range strings.Split(strings.TrimSpace(log), "\n") {
		var l statusLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		if l.State != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
