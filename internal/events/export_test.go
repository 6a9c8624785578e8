package events

// PostgresSchemas exposes the PostgreSQL migrations to the tests, which build their template
// database (pgtest) from the same files OpenPostgres applies.
var PostgresSchemas = postgresSchemas
