package mailer

import (
	"sync"
	"testing"
	"time"
)

// Every Do returns only after a sync that began after it was called, and concurrent callers
// share syncs.
func TestGroupSyncCoversEveryCaller(t *testing.T) {
	const callers = 50
	var (
		mu      sync.Mutex
		arrived = map[int]bool{} // callers that called Do
		covered = map[int]bool{} // callers that had arrived when an ended sync began
		syncs   int
	)
	var g groupSync
	g.sync = func() {
		mu.Lock()
		syncs++
		began := make([]int, 0, len(arrived))
		for i := range arrived {
			began = append(began, i)
		}
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // a disk's flush
		mu.Lock()
		for _, i := range began {
			covered[i] = true
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			mu.Lock()
			arrived[i] = true
			mu.Unlock()
			g.Do()
			mu.Lock()
			defer mu.Unlock()
			if !covered[i] {
				t.Errorf("Do of caller %d returned before a sync that began after it ended", i)
			}
		})
	}
	wg.Wait()
	if syncs >= callers {
		t.Errorf("%d concurrent callers made %d syncs; want them shared", callers, syncs)
	}
	t.Logf("%d callers, %d syncs", callers, syncs)
}
