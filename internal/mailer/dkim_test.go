package mailer_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventpost/eventpost/internal/mailer"
	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/envconf"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/logging/logtest"
	"github.com/eventpost/eventpost/internal/platform/smtptest"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

const (
	dkimDomain   = "mail.example.org"
	dkimSelector = "ep2027"
)

// dkimKey is a signing key of a test: its PEM file and its DNS TXT record.
type dkimKey struct {
	pem    []byte
	record string
}

func rsaKey(t *testing.T, pkcs8 bool) dkimKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	if pkcs8 {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return dkimKey{pem: pem.EncodeToMemory(block), record: "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)}
}

func ed25519Key(t *testing.T) dkimKey {
	t.Helper()
	pub, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return dkimKey{
		pem:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		record: "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub),
	}
}

// writeKey writes pemBytes to a file of mode perm and returns its path.
func writeKey(t *testing.T, pemBytes []byte, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pemBytes, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

func withDKIM(keyFile string) func(*mailer.Config) {
	return func(c *mailer.Config) {
		c.DKIMDomain, c.DKIMSelector, c.DKIMKeyFile = dkimDomain, dkimSelector, keyFile
	}
}

// verify verifies the DKIM signatures of data with the record published for the test's
// selector, and returns the verifications.
func verify(t *testing.T, data []byte, record string) []*dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if name != dkimSelector+"._domainkey."+dkimDomain {
				return nil, fmt.Errorf("no TXT record at %s", name)
			}
			return []string{record}, nil
		},
	})
	if err != nil {
		t.Fatalf("dkim.Verify: %v", err)
	}
	return vs
}

// TestDKIMSignatureVerifies sends a reminder with an unsubscribe link through the
// email-sender signing with each kind of key, and verifies what the SMTP server received
// with go-msgauth's verifier; the signature covers the headers that matter, and a changed
// body or subject fails it.
func TestDKIMSignatureVerifies(t *testing.T) {
	tests := []struct {
		name string
		key  func(t *testing.T) dkimKey
	}{
		{name: "RSA PKCS1", key: func(t *testing.T) dkimKey { return rsaKey(t, false) }},
		{name: "RSA PKCS8", key: func(t *testing.T) dkimKey { return rsaKey(t, true) }},
		{name: "Ed25519 PKCS8", key: ed25519Key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key(t)
			srv := smtptest.Start(t)
			clk := &clock{now: time.Date(2027, 3, 1, 17, 30, 0, 0, time.UTC)}
			svc, st, _ := startMailer(t, database.SQLite, filepath.Join(t.TempDir(), "mailer.db"), srv, clk.Now,
				withDKIM(writeKey(t, key.pem, 0o600)))
			req := reminderRequest("rem1")
			req.UnsubscribeToken = "unsub-0123456789abcdef"
			if err := svc.HandleSend(context.Background(), sendMessage(t, req, 1)); err != nil {
				t.Fatal(err)
			}
			if r := resultOf(t, st, "rem1"); r.Status != messages.ResultSent {
				t.Fatalf("result %+v, want sent", r)
			}
			msgs, err := srv.WaitForMessages(1, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			data := msgs[0].Data

			vs := verify(t, data, key.record)
			if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != dkimDomain {
				t.Fatalf("verifications %+v, want one valid signature of %s", vs, dkimDomain)
			}
			signed := vs[0].HeaderKeys
			for _, h := range []string{
				"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
				"List-Unsubscribe", "List-Unsubscribe-Post", "Auto-Submitted",
			} {
				if !slices.ContainsFunc(signed, func(s string) bool { return strings.EqualFold(s, h) }) {
					t.Errorf("signature does not cover %s (h=%v)", h, signed)
				}
			}

			head, body, _ := bytes.Cut(data, []byte("\r\n\r\n"))
			tampered := map[string][]byte{
				"body":    slices.Concat(head, []byte("\r\n\r\n"), bytes.Replace(body, []byte("Jazz night"), []byte("Jazz nite!"), 1)),
				"subject": bytes.Replace(data, []byte("Subject: Reminder: Jazz night"), []byte("Subject: Reminder: Jazz nite!"), 1),
			}
			for what, bad := range tampered {
				if bytes.Equal(bad, data) {
					t.Fatalf("tampering the %s changed nothing", what)
				}
				vs := verify(t, bad, key.record)
				if len(vs) != 1 || vs[0].Err == nil {
					t.Errorf("message with a changed %s verifies: %+v", what, vs)
				}
			}
		})
	}
}

// TestDKIMSignsTheFileTransportToo: the embedded mode's .eml files are signed alike.
func TestDKIMSignsTheFileTransportToo(t *testing.T) {
	key := ed25519Key(t)
	dir := t.TempDir()
	tr, err := mailer.NewFileTransport(dir, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	cfg := mailer.DefaultConfig()
	withDKIM(writeKey(t, key.pem, 0o600))(&cfg)
	svc, err := mailer.New(cfg, mailer.Deps{
		Common: svcdeps.Common{Log: logging.Discard(), Registry: prometheus.NewRegistry()},
		Store:  openSQLite(t), Transport: tr,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.HandleSend(context.Background(), sendMessage(t, reminderRequest("rem1"), 1)); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) != 1 {
		t.Fatalf("mail files %v, %v; want one", files, err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if vs := verify(t, data, key.record); len(vs) != 1 || vs[0].Err != nil {
		t.Errorf("verifications %+v, want one valid signature", vs)
	}
}

// TestDKIMSettingsRefused: New refuses DKIM settings it cannot sign with, naming the
// variable to fix.
func TestDKIMSettingsRefused(t *testing.T) {
	good := writeKey(t, ed25519Key(t).pem, 0o600)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  func(c *mailer.Config)
		want []string // in the error
	}{
		{
			name: "domain alone",
			cfg:  func(c *mailer.Config) { c.DKIMDomain = dkimDomain },
			want: []string{"EVENTPOST_DKIM_SELECTOR", "EVENTPOST_DKIM_KEY_FILE"},
		},
		{
			name: "no key file",
			cfg:  func(c *mailer.Config) { withDKIM(good)(c); c.DKIMKeyFile = "" },
			want: []string{"EVENTPOST_DKIM_KEY_FILE not set"},
		},
		{
			name: "key file missing",
			cfg:  withDKIM(filepath.Join(t.TempDir(), "nowhere.pem")),
			want: []string{"EVENTPOST_DKIM_KEY_FILE", "no such file"},
		},
		{
			name: "not PEM",
			cfg:  withDKIM(writeKey(t, []byte("not a key"), 0o600)),
			want: []string{"EVENTPOST_DKIM_KEY_FILE", "no PEM block"},
		},
		{
			name: "a certificate",
			cfg:  withDKIM(writeKey(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), 0o600)),
			want: []string{"EVENTPOST_DKIM_KEY_FILE", `"CERTIFICATE"`},
		},
		{
			name: "an ECDSA key",
			cfg:  withDKIM(writeKey(t, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), 0o600)),
			want: []string{"EVENTPOST_DKIM_KEY_FILE", "RSA or Ed25519"},
		},
		{
			name: "a domain with a space",
			cfg:  func(c *mailer.Config) { withDKIM(good)(c); c.DKIMDomain = "mail example.org" },
			want: []string{"EVENTPOST_DKIM_DOMAIN"},
		},
		{
			name: "a selector with a semicolon",
			cfg:  func(c *mailer.Config) { withDKIM(good)(c); c.DKIMSelector = "s;x=y" },
			want: []string{"EVENTPOST_DKIM_SELECTOR"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mailer.DefaultConfig()
			tt.cfg(&cfg)
			_, err := mailer.New(cfg, mailer.Deps{
				Common: svcdeps.Common{Log: logging.Discard(), Registry: prometheus.NewRegistry()},
				Store:  openSQLite(t), Transport: &mailer.FileTransport{},
			})
			if err == nil {
				t.Fatal("New accepted the settings")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestDKIMKeyFileOpenToOthersIsLogged: a key file others may read works, with a warning.
func TestDKIMKeyFileOpenToOthersIsLogged(t *testing.T) {
	for perm, warn := range map[os.FileMode]bool{0o600: false, 0o640: true, 0o644: true} {
		t.Run(perm.String(), func(t *testing.T) {
			var buf logtest.Buffer
			cfg := mailer.DefaultConfig()
			withDKIM(writeKey(t, ed25519Key(t).pem, perm))(&cfg)
			_, err := mailer.New(cfg, mailer.Deps{
				Common: svcdeps.Common{Log: slog.New(slog.NewTextHandler(&buf, nil)), Registry: prometheus.NewRegistry()},
				Store:  openSQLite(t), Transport: &mailer.FileTransport{},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := buf.Count("open to other users"); (got == 1) != warn {
				t.Errorf("%d warnings for a key file of mode %v, want warned %t; log:\n%s", got, perm, warn, buf.String())
			}
		})
	}
}

// TestDKIMSettingsNames: the host process reads the DKIM settings from the variables the
// API documentation names, though they belong to the email-sender's configuration.
func TestDKIMSettingsNames(t *testing.T) {
	var names []string
	for _, v := range envconf.Vars("EVENTPOST_MAILER_", mailer.DefaultConfig()) {
		names = append(names, v.Name)
	}
	for _, want := range []string{"EVENTPOST_DKIM_DOMAIN", "EVENTPOST_DKIM_SELECTOR", "EVENTPOST_DKIM_KEY_FILE"} {
		if !slices.Contains(names, want) {
			t.Errorf("variables %v lack %s", names, want)
		}
	}
	var c mailer.Config
	env := map[string]string{
		"EVENTPOST_DKIM_DOMAIN": dkimDomain, "EVENTPOST_DKIM_SELECTOR": dkimSelector, "EVENTPOST_DKIM_KEY_FILE": "/k.pem",
	}
	if err := envconf.Load(func(k string) string { return env[k] }, "EVENTPOST_MAILER_", &c); err != nil {
		t.Fatal(err)
	}
	if c.DKIMDomain != dkimDomain || c.DKIMSelector != dkimSelector || c.DKIMKeyFile != "/k.pem" {
		t.Errorf("loaded %+v", c)
	}
}
