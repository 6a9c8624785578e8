package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id parameters of new password hashes. Stored hashes carry
// their own parameters (PHC string format), so raising these later only affects new hashes;
// an account whose hash is weaker than these is rehashed when it next logs in.
type PasswordParams struct {
	// Memory is the memory cost in KiB. At least 19456 (19 MiB, the OWASP minimum).
	Memory uint32 `env:"MEMORY,positive"`
	// Time is the number of passes over memory. At least 2.
	Time uint32 `env:"TIME,positive"`
	// Threads is the degree of parallelism. At least 1.
	Threads uint8 `env:"THREADS,positive"`
	// SaltLen is the salt length in bytes. At least 16.
	SaltLen uint32 `env:"SALT_LEN,positive"`
	// KeyLen is the derived key length in bytes. At least 32.
	KeyLen uint32 `env:"KEY_LEN,positive"`
}

// MinPasswordParams are the weakest parameters New accepts: the OWASP recommendation for
// argon2id (m=19456 KiB, t=2, p=1) with a 16-byte salt and a 32-byte key.
var MinPasswordParams = PasswordParams{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

func (p PasswordParams) validate() error {
	m := MinPasswordParams
	if p.Memory < m.Memory || p.Time < m.Time || p.Threads < m.Threads || p.SaltLen < m.SaltLen || p.KeyLen < m.KeyLen {
		return fmt.Errorf("password parameters m=%d,t=%d,p=%d,salt=%d,key=%d are below the minimum m=%d,t=%d,p=%d,salt=%d,key=%d",
			p.Memory, p.Time, p.Threads, p.SaltLen, p.KeyLen, m.Memory, m.Time, m.Threads, m.SaltLen, m.KeyLen)
	}
	return nil
}

// errBadHash reports a stored password hash that does not parse.
var errBadHash = errors.New("malformed password hash")

var b64 = base64.RawStdEncoding

// hasher hashes and verifies passwords, at most a fixed number at once: each argon2id
// computation holds Memory KiB, so the semaphore bounds the memory logins can take.
type hasher struct {
	params PasswordParams
	sem    chan struct{}
}

func newHasher(p PasswordParams, concurrency int) *hasher {
	return &hasher{params: p, sem: make(chan struct{}, max(concurrency, 1))}
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.sem }

// Hash returns the PHC-format argon2id hash of password with a fresh salt:
// $argon2id$v=19$m=<memory>,t=<time>,p=<threads>$<salt>$<key>.
func (h *hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	defer h.release()
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC-format hash encoded, comparing in constant
// time, and whether the hash is weaker than the current parameters and should be replaced.
func (h *hasher) Verify(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	p, salt, want, err := parseHash(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	cur := h.params
	rehash = p.Memory < cur.Memory || p.Time < cur.Time || p.Threads < cur.Threads ||
		p.SaltLen < cur.SaltLen || p.KeyLen < cur.KeyLen
	return ok, rehash, nil
}

// parseHash splits a PHC-format argon2id hash into its parameters, salt and key.
func parseHash(encoded string) (PasswordParams, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return PasswordParams{}, nil, nil, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: version %q", errBadHash, parts[2])
	}
	p, err := parseHashParams(parts[3])
	if err != nil {
		return PasswordParams{}, nil, nil, err
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: salt", errBadHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 1024 {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: key", errBadHash)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// parseHashParams reads the "m=…,t=…,p=…" part of a hash, in its canonical form only.
func parseHashParams(s string) (PasswordParams, error) {
	var p PasswordParams
	if n, err := fmt.Sscanf(s, "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads) != s {
		return PasswordParams{}, fmt.Errorf("%w: parameters %q", errBadHash, s)
	}
	// Bounds keep a corrupted row from asking for absurd work.
	if p.Time < 1 || p.Time > 64 || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) || p.Memory > 4<<20 {
		return PasswordParams{}, fmt.Errorf("%w: parameters %q out of range", errBadHash, s)
	}
	return p, nil
}
