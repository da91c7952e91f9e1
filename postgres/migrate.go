package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hxchat/hxchat/internal/migrations"
)

// migrationFS holds the schema migrations, one file each, named
// NNNN_what.sql; NNNN is the version. A migration, once released, is never
// edited: a change of schema is a new file with the next version.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one step of the schema.
type migration = migrations.Migration

// loadMigrations reads the *.sql files of dir in fsys, ordered by version.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	return migrations.Load(fsys, dir)
}

// migrateLock is the first key of the advisory lock that migrate holds;
// the second is a hash of the schema, so that hxchats on different schemas
// of one database do not wait for each other.
const migrateLock = 0x6878 // "hx"

// migrate applies the migrations that schema_migrations does not list, in
// order, and records each, all in one transaction that first takes an
// advisory lock: of several processes that start together on one schema,
// one migrates and the others wait for it, then find nothing to do. A
// migration that fails leaves no trace. It refuses a database that lists a
// version newer than the last of ms.
func migrate(ctx context.Context, pool *pgxpool.Pool, ms []migration) error {
	var known int64
	if len(ms) > 0 {
		known = ms[len(ms)-1].Version
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))", migrateLock); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    bigint      NOT NULL PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var current int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if current > known {
			return fmt.Errorf("migrate: the database has schema version %d, newer than %d, the last this hxchat knows; run a newer hxchat", current, known)
		}
		for _, m := range ms {
			if m.Version <= current {
				continue
			}
			// No arguments: pgx sends the file as one simple query, which
			// may hold several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migrate: %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", m.Version); err != nil {
				return fmt.Errorf("migrate: %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
