// Package pgtest gives each test a PostgreSQL schema of its own, on a real
// server: the one at 127.0.0.1:5432 (user postgres, database test, as the
// CI machine has it), or the one HXCHAT_TEST_DATABASE_URL names.
//
// Where the server cannot be reached the test is skipped with a message
// that says how to run it, except in CI (CI=true), where it fails: in CI
// the PostgreSQL tests always run.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the test database when HXCHAT_TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL returns the URL of the test database, without a schema.
func BaseURL() string {
	if u := os.Getenv("HXCHAT_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// URL creates a new, empty schema t_<random> in the test database and
// returns the database's URL with that schema as its search_path, so that
// every connection made from it works in the schema. The schema is dropped,
// with all it holds, when t ends.
func URL(t testing.TB) string {
	t.Helper()
	base := BaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reachable(); err != nil {
		msg := "PostgreSQL is not reachable at " + redact(base) + ": " + err.Error() +
			" (start it, or set HXCHAT_TEST_DATABASE_URL to a database the tests may use)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; in CI the PostgreSQL tests must run")
		}
		t.Skip(msg)
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(context.Background())
	prepare(ctx, t, conn)

	b := make([]byte, 8)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: HXCHAT_TEST_DATABASE_URL must be a URL (postgres://...): %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	if !q.Has("pool_min_conns") {
		// Tests open many stores at once, across packages: connections
		// kept open for bursts that never come would exhaust the server's
		// max_connections.
		q.Set("pool_min_conns", "0")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// reachable tries the test database once per test binary, so that where
// there is none each test is skipped at once, not after a timeout.
var reachable = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, BaseURL())
	if err != nil {
		return err
	}
	return conn.Close(ctx)
})

// prepare makes sure pg_trgm is installed in the database's public schema
// before any test schema is migrated: else the first migration of a test
// would install it into that test's schema, and dropping the schema would
// drop it, with the indexes of every other test that uses it. Where it
// cannot be installed, the stores run without it, as they would in
// production.
func prepare(ctx context.Context, t testing.TB, conn *pgx.Conn) {
	// Tests of several packages run at once: one creates it, the others
	// wait on the lock and then find it.
	_, err := conn.Exec(ctx, "SELECT pg_advisory_lock(26744, 1)")
	if err == nil {
		_, err = conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
		conn.Exec(ctx, "SELECT pg_advisory_unlock(26744, 1)")
	}
	if err != nil {
		t.Logf("pgtest: pg_trgm cannot be installed (%v): search runs without its index", err)
	}
}

// redact returns a database URL without its password, for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(the URL in HXCHAT_TEST_DATABASE_URL)"
	}
	return u.Redacted()
}

// ConnURL returns url, one of URL's, for a single connection
// (pgx.Connect): without the pool's parameters, which pgx.Connect would
// send to the server as settings it does not know.
func ConnURL(t testing.TB, s string) string {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
