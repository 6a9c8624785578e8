package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHandlerTransport(t *testing.T) {
	type seen struct {
		Method, Path, Query, RemoteAddr, Host, Body, Auth, RequestURI string
	}
	var got seen
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = seen{r.Method, r.URL.Path, r.URL.RawQuery, r.RemoteAddr, r.Host, string(b), r.Header.Get("Authorization"), r.RequestURI}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Before", "1")
		w.WriteHeader(http.StatusCreated)
		w.Header().Set("X-After", "1") // too late: a real server would not send it
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	client := &http.Client{Transport: handlerTransport{handler: h}}
	browser := httptest.NewRequest("GET", "http://events.example.org/", nil)
	browser.RemoteAddr = "198.51.100.4:4444"
	ctx := withPeer(context.Background(), browser)
	req, err := http.NewRequestWithContext(ctx, "POST", apiBase+"/api/v1/events?limit=5&q=a+b", strings.NewReader(`{"title":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)

	want := seen{"POST", "/api/v1/events", "limit=5&q=a+b", "198.51.100.4:4444", "events.example.org", `{"title":"x"}`, "Bearer tok", "/api/v1/events?limit=5&q=a+b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request the handler saw (-want +got):\n%s", diff)
	}
	if resp.StatusCode != http.StatusCreated || string(body) != `{"ok":true}` || resp.ContentLength != int64(len(body)) {
		t.Errorf("response: %d %q (length %d)", resp.StatusCode, body, resp.ContentLength)
	}
	if resp.Header.Get("X-Before") != "1" || resp.Header.Get("X-After") != "" {
		t.Errorf("response header = %v, want the header as it was at WriteHeader", resp.Header)
	}
}

func TestHandlerTransportImplicitStatus(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    http.HandlerFunc
		want int
	}{
		{"nothing written", func(http.ResponseWriter, *http.Request) {}, http.StatusOK},
		{"body only", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "x") }, http.StatusOK},
		{"informational first", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNoContent)
		}, http.StatusNoContent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", apiBase+"/x", nil)
			resp, err := handlerTransport{handler: tt.h}.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestRefresherExchangesATokenOnce(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newRefresher(15*time.Second, clock)
	var calls atomic.Int32
	release := make(chan struct{})
	exchange := func() (tokenPair, error) {
		calls.Add(1)
		<-release
		return tokenPair{AccessToken: "a2", RefreshToken: "r2"}, nil
	}

	var wg sync.WaitGroup
	pairs := make([]tokenPair, 5)
	for i := range pairs {
		wg.Go(func() {
			p, err := f.refresh("r1", exchange)
			if err != nil {
				t.Error(err)
			}
			pairs[i] = p
		})
	}
	// Let every goroutine find the exchange under way before it finishes.
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, p := range pairs {
		if p.RefreshToken != "r2" {
			t.Errorf("caller %d got %+v", i, p)
		}
	}

	// Within the grace period the result is given again; after it, the token is exchanged anew.
	if p, _ := f.refresh("r1", exchange); p.RefreshToken != "r2" {
		t.Errorf("within the grace period: %+v", p)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d exchanges within the grace period, want 1", n)
	}
	mu.Lock()
	now = now.Add(16 * time.Second)
	mu.Unlock()
	_, _ = f.refresh("r1", exchange)
	if n := calls.Load(); n != 2 {
		t.Errorf("%d exchanges after the grace period, want 2", n)
	}
}

func TestRefresherDoesNotKeepFailures(t *testing.T) {
	f := newRefresher(time.Minute, time.Now)
	boom := errors.New("boom")
	calls := 0
	for range 2 {
		_, err := f.refresh("r1", func() (tokenPair, error) { calls++; return tokenPair{}, boom })
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want boom", err)
		}
	}
	if calls != 2 {
		t.Errorf("%d exchanges, want a new one after a failure", calls)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/": "/", "/a?b=c#d": "/a?b=c#d", "": "/", "//x": "/", "/\\x": "/", "http://x/": "/", "x": "/", "/a\r\nb": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
