package events

import (
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if f := &benchFixture; f.store != nil {
		f.store.Close()
	}
	if f := &benchFixture; f.dir != "" && !f.keep {
		os.RemoveAll(f.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }
