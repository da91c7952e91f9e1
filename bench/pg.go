package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The rungs of several replicas (-replicas) run on a PostgreSQL server: each
// rung gets a database of its own, made before and dropped after it.

// benchDB is a rung's database.
type benchDB struct {
	admin string // the URL of the server's database that made it (-database)
	name  string
	url   string // the URL of the rung's database, for hxchat
}

// createDB creates the database name on the server of adminURL, dropping a
// leftover of an earlier run first.
func createDB(ctx context.Context, adminURL, name string) (*benchDB, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return nil, fmt.Errorf("-database: %w", err)
	}
	// The pool's settings (pool_max_conns…) are for hxchat's pgxpool; a
	// plain connection refuses them.
	admin := *u
	q := admin.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	admin.RawQuery = q.Encode()
	db := &benchDB{admin: admin.String(), name: name}
	if err := db.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return nil, err
	}
	if err := db.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, err
	}
	u.Path = "/" + name
	db.url = u.String()
	return db, nil
}

func (db *benchDB) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, db.admin)
	if err != nil {
		return fmt.Errorf("PostgreSQL (-database): %w", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("PostgreSQL: %s: %w", sql, err)
	}
	return nil
}

// drop removes the database.
func (db *benchDB) drop() {
	db.exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db.name}.Sanitize()+" WITH (FORCE)")
}

// pgStats are the database's counters in pg_stat_database.
type pgStats struct {
	xacts  int64 // transactions committed and rolled back
	writes int64 // rows inserted, updated and deleted
}

// stats reads the database's counters. Backends report theirs when they go
// idle (at most once a second) or exit, so they lag by a second or so.
func (db *benchDB) stats(ctx context.Context) (pgStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, db.admin)
	if err != nil {
		return pgStats{}, err
	}
	defer c.Close(context.Background())
	var s pgStats
	err = c.QueryRow(ctx, `SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted
		FROM pg_stat_database WHERE datname = $1`, db.name).Scan(&s.xacts, &s.writes)
	return s, err
}
