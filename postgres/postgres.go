// Package postgres implements hxchat.Store on PostgreSQL, with
// github.com/jackc/pgx/v5 and its pool. It is the store of several replicas
// of hxchat behind one load balancer: PostgreSQL is the only part they
// share. It behaves as sqlite/ does, method by method; the suite of
// storetest holds both to that.
//
// # Schema and migrations
//
// The schema is in migrations/*.sql, embedded in the binary, and applied by
// Open in one transaction that first takes a transaction-level advisory
// lock (pg_advisory_xact_lock) keyed by the schema: replicas that start
// together wait for each other, and each migration runs once. A database
// whose schema is newer than this code knows is refused. The tables live in
// the first schema of the connection's search_path (public by default;
// ?search_path=NAME in the URL puts them elsewhere).
//
// # Data
//
// Times are timestamptz, written in whole milliseconds by this process's
// clock and returned in UTC, as sqlite/ does. Message ids come from an
// identity column: increasing in the order of writing within a
// conversation (every write to a conversation locks its row first), and
// never reused. PostgreSQL's text holds neither NUL nor invalid UTF-8: the
// store writes a NUL as U+FFFD and invalid bytes as U+FFFD (the web layer
// refuses both in what users send; only a model could send them).
//
// # Search
//
// PostgreSQL cannot run Go, so it cannot fold text as package fold does
// while it searches. The store writes, next to every title and message
// text, its folded copy (title_folded, content_folded), and searches those
// with LIKE and the folded query, its %, _ and \ escaped. With the pg_trgm
// extension (created by the first migration when the database allows it)
// a GIN trigram index on the content_folded of final messages serves
// queries of three characters or more; streaming answers, rewritten by
// every checkpoint, are kept out of it and searched apart. Each search is
// planned for its query (no cached generic plan), and runs as two
// statements: the messages that match, then the conversations.
package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hxchat/hxchat"
)

// Store is an hxchat.Store on a PostgreSQL database. It is safe for
// concurrent use. Make one with Open and end it with Close.
type Store struct {
	pool *pgxpool.Pool
	// beats is a pool of one connection of its own for the cluster's
	// heartbeat and sweep (Join, Heartbeat, TakeExpired, Leave): a replica
	// whose pool is busy with requests is alive, and its heartbeat must not
	// wait behind them, or it would fence itself and lose its answers when
	// it is merely loaded.
	beats *pgxpool.Pool
	// replica is this process once it has joined the cluster (Join): the
	// answers it starts hold its lease.
	replica atomic.Pointer[hxchat.Replica]
	// ends groups the FinishAnswer calls that come while others run
	// (finish.go).
	ends ends
}

var (
	_ hxchat.Store  = (*Store)(nil)
	_ hxchat.Pinger = (*Store)(nil)
)

// Open connects to the PostgreSQL database at url (postgres://user:password@host:port/database?options,
// as libpq takes it; pool_max_conns=N sizes the pool, default
// defaultMaxConns, and pool_min_conns=N keeps that many open, default
// defaultMinConns) and brings its schema up to date with the
// embedded migrations. Opening a database that is up to date changes
// nothing; one whose schema is newer than this code knows is refused.
func Open(ctx context.Context, url string) (*Store, error) {
	return open(ctx, url, nil)
}

// open is Open with a tracer on the pool's connections (nil: none), with
// which the tests count the round trips of each method.
func open(ctx context.Context, url string, tracer pgx.QueryTracer) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, fmt.Errorf("postgres: the database URL does not parse: write it like postgres://user:password@host:5432/database")
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if !strings.Contains(url, "pool_min_conns") {
		cfg.MinConns = min(defaultMinConns, cfg.MaxConns)
	}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	bcfg := cfg.Copy()
	bcfg.MaxConns, bcfg.MinConns = 1, 0
	beats, err := pgxpool.NewWithConfig(ctx, bcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool, beats: beats}
	ms, err := loadMigrations(migrationFS, "migrations")
	if err == nil {
		err = migrate(ctx, pool, ms)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", describe(cfg), err)
	}
	return s, nil
}

// defaultMaxConns is the size of the pool when the URL does not set it
// (pool_max_conns). A request holds a connection for a few round trips at a
// time, and a replica takes hundreds of messages a second at its peak; with
// pgx's own default (4 on a small machine) they queue for a connection,
// not for the database.
const defaultMaxConns = 16

// defaultMinConns is how many connections the pool keeps open, idle or
// not, when the URL does not say (pool_min_conns). A replica that has just
// started, or that a rolling deploy has just sent traffic to, otherwise
// opens a connection for each of the first requests that come together,
// and each costs PostgreSQL a new backend: on two replicas at 1,000
// streams started over 3 s (go run ./bench -replicas 2), the readers' p99
// in the first two seconds was 300–730 ms with none kept, 150–450 ms with
// eight.
const defaultMinConns = 8

// describe names the database of cfg for a message: user, host, port and
// database, never the password.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("database %q on %s:%d as %q", c.Database, c.Host, c.Port, c.User)
}

// Ping sends an empty statement on a connection of the pool: it fails when
// no connection can be had (the server is down or refuses us, or the pool
// is closed) or ctx ends first.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// PoolStat returns a snapshot of the connection pool's counters (acquired,
// idle and total connections, waits for one), for the metrics.
func (s *Store) PoolStat() *pgxpool.Stat { return s.pool.Stat() }

// Close closes the pool, waiting for the connections in use to be given
// back; the store must not be used afterwards.
func (s *Store) Close() error {
	s.pool.Close()
	s.beats.Close()
	return nil
}
