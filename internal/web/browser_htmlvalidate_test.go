package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/eventpost/eventpost/internal/platform/integration"
)

// htmlValidateVersion is the version of html-validate, the offline HTML validator, that
// the browser tests check every page they load with; testdata/htmlvalidate pins it with its
// package-lock.json. Its rules are in .htmlvalidate.json beside this file.
const htmlValidateVersion = "10.9.0"

// htmlValidateUnavailable tells that html-validate cannot run: the test fails when
// EVENTPOST_INTEGRATION=1, and otherwise goes on without validating its pages, saying how to
// enable it.
func htmlValidateUnavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if integration.Required() {
		t.Fatalf("%s; EVENTPOST_INTEGRATION=1 requires it", msg)
	}
	t.Logf("%s: the pages are not validated; install Node.js and npm (the browser tests install html-validate %s "+
		"from the npm registry into .cache/npm at the repository root on their first run and reuse it later), and set "+
		"EVENTPOST_INTEGRATION=1 to make this a failure", msg, htmlValidateVersion)
}

// installHTMLValidate returns the path of node and of html-validate's command, or false
// when they are not available (see htmlValidateUnavailable), installing
// html-validate with npm ci (testdata/htmlvalidate's package.json and package-lock.json)
// into .cache/npm/htmlvalidate at the repository root unless an earlier run installed it
// from the same lock file.
func installHTMLValidate(t *testing.T) (node, cli string, ok bool) {
	t.Helper()
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	if err := errors.Join(nodeErr, npmErr); err != nil {
		htmlValidateUnavailable(t, "Node.js or npm is not on PATH (%v)", err)
		return "", "", false
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the repository root is not at %s: %v", root, err)
	}
	manifest, err := os.ReadFile(filepath.Join("testdata", "htmlvalidate", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.ReadFile(filepath.Join("testdata", "htmlvalidate", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(append([]byte{}, manifest...), lock...))
	stamp := hex.EncodeToString(sum[:])
	dir := filepath.Join(root, ".cache", "npm", "htmlvalidate")
	cli = filepath.Join(dir, "node_modules", "html-validate", "bin", "html-validate.mjs")
	marker := filepath.Join(dir, "installed")
	if got, err := os.ReadFile(marker); err == nil && string(got) == stamp {
		if _, err := os.Stat(cli); err == nil {
			return node, cli, true
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
	if out, err := cmd.CombinedOutput(); err != nil {
		htmlValidateUnavailable(t, "npm ci of html-validate %s in %s failed (%v):\n%s", htmlValidateVersion, dir, err, out)
		return "", "", false
	}
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("html-validate is installed without its command: %v", err)
	}
	if err := os.WriteFile(marker, []byte(stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	return node, cli, true
}

// htmlPages collects the HTML of the pages a browser test loads, as the server sent it, to
// be validated once the test ends.
type htmlPages struct {
	dir  string
	seen map[[32]byte]bool
	// names are the files written, by the page they hold ("GET /events/x → 200").
	names map[string]string
}

// snapshot keeps the HTML of the page the browser shows now, what loaded it; a page with
// the same HTML as one kept already is skipped.
func (b *browser) snapshot(what string) {
	b.t.Helper()
	if b.pages == nil {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		b.t.Fatalf("the frame of %s: %v", what, err)
	}
	if !strings.HasPrefix(tree.FrameTree.Frame.MimeType, "text/html") {
		return
	}
	res, err := chromedp.Call(ctx, page.GetResourceContent, page.GetResourceContentParams{
		FrameID: tree.FrameTree.Frame.ID, URL: tree.FrameTree.Frame.URL,
	})
	if err != nil {
		b.t.Fatalf("the HTML of %s (%s): %v", what, tree.FrameTree.Frame.URL, err)
	}
	sum := sha256.Sum256(res.Content)
	if b.pages.seen[sum] {
		return
	}
	b.pages.seen[sum] = true
	name := filepath.Join(b.pages.dir, fmt.Sprintf("page-%03d.html", len(b.pages.seen)))
	if err := os.WriteFile(name, res.Content, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.pages.names[name] = what + " → " + strings.TrimPrefix(tree.FrameTree.Frame.URL, b.base)
}

// validateHTML checks every page kept with html-validate under .htmlvalidate.json, failing
// the test on any error.
func validateHTML(t *testing.T, node, cli string, pages *htmlPages) {
	t.Helper()
	if len(pages.names) == 0 {
		return
	}
	files := make([]string, 0, len(pages.names))
	for name := range pages.names {
		files = append(files, name)
	}
	config, err := filepath.Abs(".htmlvalidate.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{cli, "--config", config, "--formatter", "json"}, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("html-validate: %v\n%s", err, stderr.String())
	}
	var results []struct {
		FilePath string `json:"filePath"`
		Messages []struct {
			RuleID   string `json:"ruleId"`
			Severity int    `json:"severity"`
			Message  string `json:"message"`
			Line     int    `json:"line"`
			Selector string `json:"selector"`
		} `json:"messages"`
		ErrorCount int `json:"errorCount"`
	}
	if jerr := json.Unmarshal(out, &results); jerr != nil {
		t.Fatalf("html-validate printed no report (%v, exit %v): %s\n%s", jerr, err, out, stderr.String())
	}
	errorsFound := 0
	for _, r := range results {
		for _, m := range r.Messages {
			if m.Severity < 2 {
				continue
			}
			errorsFound++
			src, _ := os.ReadFile(r.FilePath)
			line := ""
			if lines := strings.Split(string(src), "\n"); m.Line >= 1 && m.Line <= len(lines) {
				line = strings.TrimSpace(lines[m.Line-1])
			}
			t.Errorf("html-validate: %s: %s (%s) at %s, line %d: %s", pages.names[r.FilePath], m.Message, m.RuleID, m.Selector, m.Line, line)
		}
	}
	if errorsFound == 0 && err != nil {
		t.Errorf("html-validate exited with %v and reported no error:\n%s", err, stderr.String())
	}
	t.Logf("html-validate %s: %d pages, %d errors", htmlValidateVersion, len(files), errorsFound)
}
