package envconf_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventpost/eventpost/internal/platform/envconf"
)

type inner struct {
	Batch int `env:"BATCH,positive"`
}

type config struct {
	Name    string        `env:"NAME"`
	Level   slog.Level    `env:"LEVEL" default:"info"`
	Rate    float64       `env:"RATE,positive"`
	Count   int           `env:"COUNT"`
	Small   uint8         `env:"SMALL"`
	On      bool          `env:"ON"`
	Wait    time.Duration `env:"WAIT,positive"`
	Secret  string        `env:"SECRET,file,private"`
	Public  string        `env:"PUBLIC,file"`
	Inner   inner         `env:"INNER_,prefix"`
	Skipped string
}

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestLoad(t *testing.T) {
	c := config{Name: "default", Rate: 1, Wait: time.Second, Inner: inner{Batch: 5}}
	err := envconf.Load(env(map[string]string{
		"X_NAME": "n", "X_LEVEL": "warn", "X_RATE": "2.5", "X_COUNT": "-3", "X_SMALL": "7", "X_ON": "true",
		"X_WAIT": "1m", "X_SECRET": "s", "X_INNER_BATCH": "9", "X_SKIPPED": "no",
	}), "X_", &c)
	if err != nil {
		t.Fatal(err)
	}
	want := config{Name: "n", Level: slog.LevelWarn, Rate: 2.5, Count: -3, Small: 7, On: true, Wait: time.Minute, Secret: "s", Inner: inner{Batch: 9}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Unset variables keep the fields' values.
	d := config{Name: "default", Wait: time.Second}
	if err := envconf.Load(env(nil), "X_", &d); err != nil || d.Name != "default" || d.Wait != time.Second {
		t.Errorf("unset: %+v, %v", d, err)
	}
}

func TestLoadRefuses(t *testing.T) {
	for k, v := range map[string]string{
		"X_LEVEL": "chatty", "X_RATE": "0", "X_COUNT": "1.5", "X_SMALL": "300", "X_ON": "yes please",
		"X_WAIT": "0s", "X_INNER_BATCH": "-1",
	} {
		var c config
		err := envconf.Load(env(map[string]string{k: v}), "X_", &c)
		if err == nil || !strings.HasPrefix(err.Error(), k+": ") {
			t.Errorf("%s=%s: %v, want an error naming the variable", k, v, err)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	open, private := filepath.Join(dir, "open"), filepath.Join(dir, "private")
	if err := os.WriteFile(open, []byte(" from file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(private, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var c config
	if err := envconf.Load(env(map[string]string{"X_PUBLIC_FILE": open, "X_SECRET_FILE": private}), "X_", &c); err != nil {
		t.Fatal(err)
	}
	if c.Public != "from file" || c.Secret != "secret" {
		t.Errorf("Public %q Secret %q", c.Public, c.Secret)
	}
	for _, kv := range []map[string]string{
		{"X_SECRET_FILE": open},                          // open to others
		{"X_SECRET": "s", "X_SECRET_FILE": private},      // both
		{"X_PUBLIC_FILE": filepath.Join(dir, "missing")}, // missing
	} {
		if err := envconf.Load(env(kv), "X_", &c); err == nil {
			t.Errorf("%v accepted", kv)
		}
	}
}

func TestVars(t *testing.T) {
	vars := envconf.Vars("X_", config{Name: "n", Wait: time.Second, Inner: inner{Batch: 5}})
	want := []envconf.Var{
		{Name: "X_NAME", Default: "n"}, {Name: "X_LEVEL", Default: "info"}, {Name: "X_RATE", Default: "0"},
		{Name: "X_COUNT", Default: "0"}, {Name: "X_SMALL", Default: "0"}, {Name: "X_ON", Default: "false"},
		{Name: "X_WAIT", Default: "1s"}, {Name: "X_SECRET", File: true}, {Name: "X_PUBLIC", File: true},
		{Name: "X_INNER_BATCH", Default: "5"},
	}
	if diff := cmp.Diff(want, vars); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	names := envconf.Names(vars[7:9])
	if diff := cmp.Diff([]string{"X_SECRET", "X_SECRET_FILE", "X_PUBLIC", "X_PUBLIC_FILE"}, names); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
}

type withAbsolute struct {
	Own   string `env:"OWN"`
	Whole string `env:"APP_WHOLE,absolute"`
}

type outer struct {
	Part withAbsolute `env:"PART_,prefix"`
}

// TestAbsoluteName: an absolute name is the variable's whole name, inside a prefix field too.
func TestAbsoluteName(t *testing.T) {
	var c outer
	err := envconf.Load(env(map[string]string{
		"APP_PART_OWN": "own", "APP_WHOLE": "whole", "APP_PART_APP_WHOLE": "wrong", "APP_PART_WHOLE": "wrong",
	}), "APP_", &c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(outer{Part: withAbsolute{Own: "own", Whole: "whole"}}, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var names []string
	for _, v := range envconf.Vars("APP_", outer{}) {
		names = append(names, v.Name)
	}
	if diff := cmp.Diff([]string{"APP_PART_OWN", "APP_WHOLE"}, names); diff != "" {
		t.Errorf("Vars (-want +got):\n%s", diff)
	}
}
