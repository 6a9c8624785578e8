package events

import (
	"testing"

	"github.com/eventpost/eventpost/internal/platform/database"
)

// postgresSchemas are the migrations of the events database in PostgreSQL.
func postgresSchemas() []database.Schema { return storeDB.Schemas(database.Postgres) }

// PostgresSchemas exposes the PostgreSQL migrations to the tests, which build their template
// database (pgtest) from the same files Open applies.
var PostgresSchemas = postgresSchemas

// SetSeedBatch makes Seed store n events per batch until t ends. Not for parallel tests.
func SetSeedBatch(t testing.TB, n int) {
	old := seedBatch
	seedBatch = n
	t.Cleanup(func() { seedBatch = old })
}
