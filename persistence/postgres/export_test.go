package postgres

// Migrations exposes the schema migrations to the external tests, which
// build databases at older versions.
func Migrations() []string { return migrations() }
