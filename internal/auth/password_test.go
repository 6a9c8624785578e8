package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestPasswordHashFormatAndVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHasher(MinPasswordParams, 1)
	hash, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(hash) {
		t.Fatalf("hash %q is not PHC argon2id with m=19456,t=2,p=1, a 16-byte salt and a 32-byte key", hash)
	}
	// The key is argon2id of the password with the stored salt and parameters.
	p, salt, key, err := parseHash(hash)
	if err != nil {
		t.Fatal(err)
	}
	if want := argon2.IDKey([]byte("correct horse"), salt, 2, 19456, 1, 32); string(want) != string(key) || p.SaltLen != 16 {
		t.Error("stored key is not argon2id(password, salt, t=2, m=19456, p=1, 32)")
	}
	again, err := h.Hash(ctx, "correct horse")
	if err != nil || again == hash {
		t.Errorf("two hashes of one password are equal (%v): salts must differ", err)
	}
	tests := []struct {
		name     string
		password string
		wantOK   bool
	}{
		{"right password", "correct horse", true},
		{"wrong password", "correct horsf", false},
		{"empty password", "", false},
		{"prefix", "correct", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, hash, tt.password)
			if err != nil || ok != tt.wantOK || rehash {
				t.Errorf("Verify = %v, %v, %v; want %v, false, nil", ok, rehash, err, tt.wantOK)
			}
		})
	}
}

func phcHash(password string, m, time uint32, p uint8) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(password), salt, time, m, p, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, time, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func TestVerifyUsesTheStoredParameters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHasher(MinPasswordParams, 1)
	tests := []struct {
		name       string
		hash       string
		wantRehash bool
	}{
		{"weaker hash verifies and asks for a rehash", phcHash("pw", 8192, 1, 1), true},
		{"stronger hash verifies as it is", phcHash("pw", 19456, 3, 2), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, tt.hash, "pw")
			if err != nil || !ok || rehash != tt.wantRehash {
				t.Errorf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.wantRehash)
			}
		})
	}
}

func TestMalformedHashesAreRefused(t *testing.T) {
	t.Parallel()
	good := phcHash("pw", 19456, 2, 1)
	parts := strings.Split(good, "$")
	tests := map[string]string{
		"empty":                "",
		"argon2i":              strings.Replace(good, "argon2id", "argon2i", 1),
		"bcrypt":               "$2a$10$abcdefghijklmnopqrstuv",
		"wrong version":        strings.Replace(good, "v=19", "v=16", 1),
		"missing parameter":    strings.Replace(good, ",p=1", "", 1),
		"extra parameter text": strings.Replace(good, "p=1", "p=1x", 1),
		"absurd memory":        strings.Replace(good, "m=19456", "m=99999999", 1),
		"zero passes":          strings.Replace(good, "t=2", "t=0", 1),
		"salt not base64":      strings.Join([]string{"", parts[1], parts[2], parts[3], "!!!", parts[5]}, "$"),
		"key too short":        strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"too many fields":      good + "$x",
	}
	h := newHasher(MinPasswordParams, 1)
	for name, hash := range tests {
		t.Run(name, func(t *testing.T) {
			ok, _, err := h.Verify(context.Background(), hash, "pw")
			if ok || !errors.Is(err, errBadHash) {
				t.Errorf("Verify(%q) = %v, %v; want false, errBadHash", hash, ok, err)
			}
		})
	}
}

func TestHasherHonoursContextWhileBusy(t *testing.T) {
	t.Parallel()
	h := newHasher(MinPasswordParams, 1)
	h.sem <- struct{}{} // every slot taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash while busy with a cancelled context = %v, want context.Canceled", err)
	}
}

// FuzzSignUpValidation checks that validation never panics and that what it accepts is
// what the contract allows.
func FuzzSignUpValidation(f *testing.F) {
	f.Add("ada@example.com", "password", "Ada")
	f.Add(" Bob <bob@example.com>", "short", "\n")
	f.Add("\"quoted\"@example.com", strings.Repeat("é", 128), strings.Repeat("n", 80))
	f.Fuzz(func(t *testing.T, email, password, name string) {
		in, err := SignUpInput{Email: email, Password: password, DisplayName: name}.validate()
		if err != nil {
			return
		}
		if in.Email != strings.TrimSpace(email) || len(in.Email) > 254 || hasControl(in.Email) {
			t.Errorf("accepted email %q", in.Email)
		}
		if n := len([]rune(password)); n < 8 || n > 128 {
			t.Errorf("accepted password of %d characters", n)
		}
		if n := len([]rune(in.DisplayName)); n < 1 || n > 80 || hasControl(in.DisplayName) {
			t.Errorf("accepted display name %q", in.DisplayName)
		}
	})
}
