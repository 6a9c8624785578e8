package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"os"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// The variables of the DKIM settings, as Config's env tags name them; errors name them.
const (
	envDKIMDomain   = "EVENTPOST_DKIM_DOMAIN"
	envDKIMSelector = "EVENTPOST_DKIM_SELECTOR"
	envDKIMKeyFile  = "EVENTPOST_DKIM_KEY_FILE"
)

// dkimHeaders are the header fields a DKIM signature covers, those of them an email has.
var dkimHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
	"List-Unsubscribe", "List-Unsubscribe-Post", "Auto-Submitted",
}

// minRSABits is the smallest RSA key a DKIM signature may use (RFC 8301).
const minRSABits = 1024

// dkimSigner signs emails with DKIM (RFC 6376), relaxed/relaxed, SHA-256.
type dkimSigner struct {
	domain, selector string
	key              crypto.Signer
}

// newDKIMSigner returns the signer cfg's DKIM settings ask for: nil when none is set, an
// error naming the variable when only some are set, or when the key file cannot be read or
// holds no RSA or Ed25519 private key. A key file that other users may read is logged.
func newDKIMSigner(cfg Config, log *slog.Logger) (*dkimSigner, error) {
	set := map[string]string{
		envDKIMDomain: cfg.DKIMDomain, envDKIMSelector: cfg.DKIMSelector, envDKIMKeyFile: cfg.DKIMKeyFile,
	}
	var missing []string
	for _, name := range []string{envDKIMDomain, envDKIMSelector, envDKIMKeyFile} {
		if set[name] == "" {
			missing = append(missing, name)
		}
	}
	switch len(missing) {
	case 3:
		return nil, nil
	case 0:
	default:
		return nil, fmt.Errorf("DKIM signing needs %s, %s and %s; %s not set",
			envDKIMDomain, envDKIMSelector, envDKIMKeyFile, strings.Join(missing, " and "))
	}
	if !dnsName(cfg.DKIMDomain) {
		return nil, fmt.Errorf("%s: %q is not a domain name", envDKIMDomain, cfg.DKIMDomain)
	}
	if !dnsName(cfg.DKIMSelector) {
		return nil, fmt.Errorf("%s: %q is not a selector (DNS labels)", envDKIMSelector, cfg.DKIMSelector)
	}
	fi, err := os.Stat(cfg.DKIMKeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envDKIMKeyFile, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		log.Warn("the DKIM private key file is open to other users; chmod 600 it",
			"file", cfg.DKIMKeyFile, "mode", perm.String())
	}
	pemBytes, err := os.ReadFile(cfg.DKIMKeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envDKIMKeyFile, err)
	}
	key, err := parseDKIMKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", envDKIMKeyFile, cfg.DKIMKeyFile, err)
	}
	return &dkimSigner{domain: strings.ToLower(cfg.DKIMDomain), selector: strings.ToLower(cfg.DKIMSelector), key: key}, nil
}

// parseDKIMKey returns the private key of the first PEM block: PKCS #8 (RSA or Ed25519) or
// PKCS #1 (RSA).
func parseDKIMKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block; want a PEM private key (PKCS #8 RSA or Ed25519, or PKCS #1 RSA)")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q; want PRIVATE KEY (PKCS #8) or RSA PRIVATE KEY (PKCS #1)", block.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits; DKIM wants at least %d", n, minRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("a %T key; DKIM signs with RSA or Ed25519", key)
}

// sign returns data with a DKIM-Signature header field in front, covering those of
// dkimHeaders that data has.
func (s *dkimSigner) sign(data []byte) ([]byte, error) {
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(data), &dkim.SignOptions{
		Domain: s.domain, Selector: s.selector, Signer: s.key, Hash: crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             presentHeaders(data, dkimHeaders),
	})
	if err != nil {
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	return out.Bytes(), nil
}

// presentHeaders returns those of names that the header section of data has, once each.
func presentHeaders(data []byte, names []string) []string {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	have := map[string]bool{}
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if name, _, ok := bytes.Cut(line, []byte(":")); ok {
			have[textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(string(name)))] = true
		}
	}
	var out []string
	for _, n := range names {
		if have[textproto.CanonicalMIMEHeaderKey(n)] {
			out = append(out, n)
		}
	}
	return out
}

// dnsName reports whether s is one or more DNS labels separated by dots (see dnsLabel), 253
// characters at most.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !dnsLabel(label) {
			return false
		}
	}
	return true
}

// dnsLabel reports whether s is 1 to 63 letters, digits, hyphens and underscores, with no
// hyphen at either end.
func dnsLabel(s string) bool {
	return s != "" && len(s) <= 63 && s[0] != '-' && s[len(s)-1] != '-' && base64URLOnly(s)
}

// base64URLOnly reports whether s holds nothing but letters, digits, hyphens and underscores:
// the base64url alphabet, and what dnsLabel allows.
func base64URLOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
