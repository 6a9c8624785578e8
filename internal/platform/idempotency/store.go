package idempotency

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ErrNotFound is returned by Store.Get for a key that has no record.
var ErrNotFound = errors.New("idempotency key not found")

// Key names one idempotency key: the Idempotency-Key header's value within the scope of the
// caller that sent it.
type Key struct {
	// Scope is whose key it is: "account:<id>" or "client:<address>".
	Scope string
	// Value is the header's value.
	Value string
}

// Response is a response kept to be answered again.
type Response struct {
	Status int
	// Header holds the headers that are answered again (see StoredHeaders).
	Header http.Header
	Body   []byte
}

// Record is what a Store keeps of one key.
type Record struct {
	Key Key
	// Fingerprint is the SHA-256 of the request's method, path and body.
	Fingerprint []byte
	// Owner is a random token of the request that claimed the key: only it may complete or
	// release the record.
	Owner string
	// CreatedAt is when the key was claimed.
	CreatedAt time.Time
	// Response is nil while the request that claimed the key is in flight.
	Response *Response
}

// Store keeps the records of idempotency keys. The SQL store (SQLStore) is the one every
// service uses; each method is a single atomic statement, so that concurrent requests with
// one key see one claim.
type Store interface {
	// Insert stores r unless its key has a record, and reports whether it did.
	Insert(ctx context.Context, r Record) (bool, error)
	// Get returns the record of k, or ErrNotFound.
	Get(ctx context.Context, k Key) (Record, error)
	// Replace replaces the record of r.Key with r provided the stored record's owner is owner
	// (it takes over an expired or abandoned claim), and reports whether it did.
	Replace(ctx context.Context, owner string, r Record) (bool, error)
	// Complete stores resp as the response of the record of k provided its owner is owner
	// and it has no response yet, and reports whether it did.
	Complete(ctx context.Context, k Key, owner string, resp Response) (bool, error)
	// Delete deletes the record of k provided its owner is owner.
	Delete(ctx context.Context, k Key, owner string) error
	// DeleteBefore deletes at most limit records created before t and returns how many.
	DeleteBefore(ctx context.Context, t time.Time, limit int) (int, error)
}
