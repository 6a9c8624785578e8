package events

import "github.com/eventpost/eventpost/internal/platform/idempotency"

// IdempotencyKeys implements Store: the table idempotency_keys of the service's database.
func (s *SQLStore) IdempotencyKeys() idempotency.Store {
	return idempotency.NewSQLStore(s.DB(), s.Dialect())
}
