package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

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

// migrate applies to db the migrations that schema_migrations does not list,
// in order, each in its own transaction together with its row in
// schema_migrations: a migration that fails leaves no trace. db must be the
// writer, whose transactions begin IMMEDIATE, so that two processes opening
// the same new file at once apply each migration once. It refuses a database
// that lists a version newer than the last of ms.
func migrate(ctx context.Context, db *sql.DB, ms []migration) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var known int64
	if len(ms) > 0 {
		known = ms[len(ms)-1].Version
	}
	var current int64
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > known {
		return fmt.Errorf("migrate: the database has schema version %d, newer than %d, the last this hxchat knows; run a newer hxchat", current, known)
	}
	for _, m := range ms {
		if err := apply(ctx, db, m); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
	}
	return nil
}

// apply runs one migration in a transaction unless it is already recorded.
func apply(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
		m.Version, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}
