package notifications

import "github.com/eventpost/eventpost/internal/platform/database"

// postgresSchemas are the migrations of the notifications database in PostgreSQL.
func postgresSchemas() []database.Schema { return storeDB.Schemas(database.Postgres) }

// PostgresSchemas exposes the PostgreSQL migrations to the tests, which build their template
// database (pgtest) from the same files Open applies.
var PostgresSchemas = postgresSchemas
