// Package sqlite implements hxchat.Store on an SQLite database file, with the
// pure-Go driver modernc.org/sqlite (no cgo). It is the default store: one
// file, WAL journal, schema migrations embedded in the binary and applied by
// Open.
//
// # Connections and writes
//
// A Store holds two database/sql pools on the same file:
//
//   - the writer: exactly one connection (SetMaxOpenConns(1)). Every statement
//     that changes the database runs on it, so the writers of this process
//     queue in database/sql for that connection instead of racing for
//     SQLite's write lock: no SQLITE_BUSY between goroutines, however many
//     answers stream at once. Its transactions start with BEGIN IMMEDIATE
//     (DSN _txlock=immediate), so a transaction takes the write lock before
//     it reads and never fails half way when it wants to write; another
//     process on the same file (a backup, the sqlite3 shell) is waited for up
//     to busy_timeout.
//   - the readers: a small pool of query_only connections. In WAL mode readers
//     see the last committed state and neither block the writer nor are
//     blocked by it.
//
// Every connection of both pools is opened with the same pragmas, given as
// DSN _pragma parameters so that the driver applies them to each new pooled
// connection: busy_timeout, journal_mode=WAL, synchronous=NORMAL (durable in
// WAL mode except for the last transactions before a power loss; never
// corrupt) and foreign_keys=ON.
//
// # Data
//
// Times are stored as UTC unix milliseconds and returned as time.Time in UTC;
// the times a method sets on its arguments are the stored ones, already
// truncated to the millisecond. Message ids come from INTEGER PRIMARY KEY
// AUTOINCREMENT: increasing, and never reused.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hxchat/hxchat"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// BusyTimeout is how long a connection waits for a lock held by another
// connection (in practice another process on the same file) before it fails
// with SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

// Store is an hxchat.Store on an SQLite database file. It is safe for
// concurrent use. Make one with Open and end it with Close.
type Store struct {
	path string
	w    *sql.DB // the single writer connection
	r    *sql.DB // the pool of read-only connections
	// The writer's statements, prepared once (query → *sql.Stmt on w):
	// SQLite's parser took a third of a turn's transaction. A transaction
	// holds the one writer connection, so a statement it meets for the
	// first time runs unprepared and is prepared after it (missed).
	stmts  sync.Map
	missed sync.Map // query → struct{}
	// group queues the writes that wait for the writer, to run them in
	// one transaction (group.go).
	group group
}

var (
	_ hxchat.Store  = (*Store)(nil)
	_ hxchat.Pinger = (*Store)(nil)
)

// Open opens the SQLite database file at path, creating the file and its
// parent directories when they are missing, and brings its schema up to date
// with the embedded migrations, each in its own transaction. Opening a
// database that is already up to date changes nothing. A database whose
// schema is newer than this code knows is refused with an error, and so is an
// in-memory database (":memory:"), which the two pools could not share.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: need the path of a database file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	// Conversations are private: directory and file for the owner only.
	// (SQLite gives the -wal and -shm files the permissions of the database.)
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	f.Close()

	s := &Store{path: abs}
	s.w, err = sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	// The writer connects first: it switches the file to WAL before any
	// reader connects, and migrates the schema.
	if err := s.w.PingContext(ctx); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	ms, err := loadMigrations(migrationFS, "migrations")
	if err == nil {
		err = migrate(ctx, s.w, ms)
	}
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}

	s.r, err = sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	s.r.SetConnMaxIdleTime(5 * time.Minute)
	if err := s.r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	return s, nil
}

// dsn returns the driver's data source name for the file at abs: a file: URI
// (so that any character of the path is escaped, '?' included) whose query
// carries the pragmas for every connection, and for the writer BEGIN
// IMMEDIATE transactions; reader connections are query_only. The driver
// applies busy_timeout first, then the other _pragma values.
func dsn(abs string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(ON)")
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: file:///C:/dir/hxchat.db
	}
	return "file://" + (&url.URL{Path: p}).EscapedPath() + "?" + q.Encode()
}

// Close closes both pools. It waits for running statements to end; the
// store must not be used afterwards.
func (s *Store) Close() error {
	var errs []error
	s.stmts.Range(func(_, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		return true
	})
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// Ping reads the schema's version from the database file on a reader
// connection, which a writer busy with a long transaction does not hold
// up: it fails when the file cannot be read or the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	var v int64
	if err := s.r.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Integrity runs PRAGMA integrity_check and PRAGMA foreign_key_check and
// returns an error describing what they found, or nil for a sound database.
func (s *Store) Integrity(ctx context.Context) error {
	var problems []string
	err := s.eachRow(ctx, "PRAGMA integrity_check", func(rows *sql.Rows) error {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	err = s.eachRow(ctx, "PRAGMA foreign_key_check", func(rows *sql.Rows) error {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int64
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		problems = append(problems, fmt.Sprintf("row %d of %s refers to a missing row of %s", rowid.Int64, table, parent))
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: foreign key check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: %s is damaged: %s", s.path, strings.Join(problems, "; "))
	}
	return nil
}

// eachRow runs query on a reader and calls f for each row.
func (s *Store) eachRow(ctx context.Context, query string, f func(*sql.Rows) error) error {
	rows, err := s.r.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// prepared returns query prepared on the writer connection, preparing it if
// need be: never while a transaction of this store is open in the calling
// goroutine (it would wait for the connection that transaction holds).
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.w.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if old, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return old.(*sql.Stmt), nil
	}
	return st, nil
}

// exec runs a write outside a transaction, its statement prepared once.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// wtx is a write transaction whose statements are prepared once on the
// writer connection and reused: database/sql finds a statement already
// prepared on the transaction's connection.
type wtx struct {
	*sql.Tx
	s *Store
}

// begin starts a write transaction.
func (s *Store) begin(ctx context.Context) (wtx, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	return wtx{tx, s}, err
}

// stmt returns query as a statement of the transaction: the prepared one,
// or one prepared for this transaction alone the first time (see Store).
func (t wtx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.s.stmts.Load(query); ok {
		return t.StmtContext(ctx, st.(*sql.Stmt)), nil
	}
	t.s.missed.Store(query, struct{}{})
	return t.PrepareContext(ctx, query)
}

// ExecContext is sql.Tx's, with the statement prepared once.
func (t wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryRowContext is sql.Tx's, with the statement prepared once.
func (t wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return t.Tx.QueryRowContext(ctx, query, args...) // which reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

// Commit is sql.Tx's; then the statements met for the first time are
// prepared for the next transactions.
func (t wtx) Commit() error {
	err := t.Tx.Commit()
	t.s.prepareMissed()
	return err
}

// Rollback is sql.Tx's, and prepares as Commit does.
func (t wtx) Rollback() error {
	err := t.Tx.Rollback()
	t.s.prepareMissed()
	return err
}

// prepareMissed prepares the statements that transactions met unprepared.
// A statement that does not prepare is left to run unprepared.
func (s *Store) prepareMissed() {
	s.missed.Range(func(q, _ any) bool {
		s.missed.Delete(q)
		_, _ = s.prepared(context.Background(), q.(string))
		return true
	})
}
