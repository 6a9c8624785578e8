package app

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/eventpost/eventpost/internal/platform/discovery"
	"github.com/eventpost/eventpost/internal/platform/svcauth"
)

// callersOfAny are the services that call another one, and so hold a service key, sorted.
func callersOfAny() []string {
	var out []string
	for caller, callees := range Callees {
		if len(callees) > 0 {
			out = append(out, caller)
		}
	}
	slices.Sort(out)
	return out
}

// serviceKeys are the credentials of one service: the signer of its calls to the others
// (nil when it calls none) and the verifier of the calls made to it (nil for the gateway,
// the public entry point).
type serviceKeys struct {
	signer   *svcauth.Signer
	verifier *svcauth.Verifier
}

// keysFor returns the credentials of service from its own key (needed when it calls other
// services) and the public keys of the services that call it, as Callees says; the gateway's
// calls alone may be made for an end user. A missing key is an error.
func keysFor(service string, own ed25519.PrivateKey, callers svcauth.CallerKeys) (serviceKeys, error) {
	var k serviceKeys
	if len(Callees[service]) > 0 {
		if own == nil {
			return k, fmt.Errorf("%s calls %v and needs its service key: set EVENTPOST_SERVICE_KEY or EVENTPOST_SERVICE_KEY_FILE (`eventpost keygen` makes one)", service, Callees[service])
		}
		k.signer = svcauth.NewSigner(service, own, nil)
	}
	if service == discovery.Gateway {
		return k, nil
	}
	var allowed []svcauth.Caller
	for _, c := range Callers(service) {
		keys := callers[c]
		if len(keys) == 0 {
			return k, fmt.Errorf("%s takes calls from %s and needs its public key: set EVENTPOST_CALLER_KEYS or EVENTPOST_CALLER_KEYS_FILE (`eventpost keygen` makes them)", service, c)
		}
		allowed = append(allowed, svcauth.Caller{Name: c, Keys: keys, ForUsers: c == discovery.Gateway})
	}
	k.verifier = svcauth.NewVerifier(service, allowed, nil)
	return k, nil
}

// systemKeys are the service keys of a whole system: a private key per calling service and
// the public keys of all of them.
type systemKeys struct {
	private map[string]ed25519.PrivateKey
	public  svcauth.CallerKeys
}

// newSystemKeys makes a fresh key for every service that calls another.
func newSystemKeys() (systemKeys, error) {
	ks := systemKeys{private: map[string]ed25519.PrivateKey{}, public: svcauth.CallerKeys{}}
	for _, s := range callersOfAny() {
		key, err := svcauth.GenerateKey()
		if err != nil {
			return ks, err
		}
		ks.private[s] = key
		ks.public[s] = []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	}
	return ks, nil
}

// keysFor returns the credentials of service within the system.
func (ks systemKeys) keysFor(service string) (serviceKeys, error) {
	return keysFor(service, ks.private[service], ks.public)
}

// env returns the variables that give service its keys, for a process of the launcher.
func (ks systemKeys) env(service string) ([]string, error) {
	env := []string{"EVENTPOST_CALLER_KEYS=" + ks.public.String()}
	if key, ok := ks.private[service]; ok {
		pem, err := svcauth.MarshalPrivateKey(key)
		if err != nil {
			return nil, err
		}
		env = append(env, "EVENTPOST_SERVICE_KEY="+string(pem))
	}
	return env, nil
}

// keysFromConfig returns the credentials of service from the process's configuration
// (EVENTPOST_SERVICE_KEY, EVENTPOST_CALLER_KEYS and their _FILE forms).
func keysFromConfig(service string, cfg Config) (serviceKeys, error) {
	var own ed25519.PrivateKey
	if cfg.ServiceKey != "" {
		var err error
		if own, err = svcauth.ParsePrivateKey(cfg.ServiceKey); err != nil {
			return serviceKeys{}, fmt.Errorf("EVENTPOST_SERVICE_KEY: %w", err)
		}
	}
	callers, err := svcauth.ParseCallerKeys(cfg.CallerKeys)
	if err != nil {
		return serviceKeys{}, fmt.Errorf("EVENTPOST_CALLER_KEYS: %w", err)
	}
	return keysFor(service, own, callers)
}

// keygen writes a fresh set of service keys under dir, as the deployment files mount them:
// <service>/service.key (mode 0600) for every service that calls another, and
// public/caller-keys (0644) with their public keys. It never overwrites: files already there
// are kept and their keys reused, so running it twice is harmless. It returns the keys and
// the paths it wrote.
func keygen(dir string) (systemKeys, []string, error) {
	ks := systemKeys{private: map[string]ed25519.PrivateKey{}, public: svcauth.CallerKeys{}}
	var wrote []string
	for _, s := range callersOfAny() {
		path := filepath.Join(dir, s, "service.key")
		key, created, err := readOrCreateKey(path)
		if err != nil {
			return ks, wrote, err
		}
		if created {
			wrote = append(wrote, path)
		}
		ks.private[s] = key
		ks.public[s] = []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}
	}
	path := filepath.Join(dir, "public", "caller-keys")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return ks, wrote, err
	}
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return ks, wrote, err
	case string(old) == ks.public.String():
		return ks, wrote, nil
	default:
		return ks, wrote, fmt.Errorf("%s exists and lists other keys than %s/*/service.key; remove it to write it anew", path, dir)
	}
	if err := os.WriteFile(path, []byte(ks.public.String()), 0o644); err != nil {
		return ks, wrote, err
	}
	return ks, append(wrote, path), nil
}

// readOrCreateKey reads the service key at path, or makes one there (directory 0700, file
// 0600) when there is none.
func readOrCreateKey(path string) (ed25519.PrivateKey, bool, error) {
	if b, err := os.ReadFile(path); err == nil {
		key, err := svcauth.ParsePrivateKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return key, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	key, err := svcauth.GenerateKey()
	if err != nil {
		return nil, false, err
	}
	pem, err := svcauth.MarshalPrivateKey(key)
	if err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	if _, err := f.Write(pem); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	return key, true, nil
}
