package postgres

import (
	"context"
	"fmt"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/postgres/pgtest"
)

// openTest opens a store on url and closes it when the test ends.
func openTest(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// versions returns the versions schema_migrations lists, in order.
func versions(t *testing.T, s *Store) []int64 {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestMigrationsConcurrent: replicas that start together on a new schema
// all open it; the migrations ran once (a second run of 0001 would fail on
// its CREATE TABLE, and schema_migrations lists each version once).
func TestMigrationsConcurrent(t *testing.T) {
	url := pgtest.URL(t)
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	const replicas = 4
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), url)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Open: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	got := versions(t, stores[0])
	if len(got) != len(ms) || got[len(got)-1] != ms[len(ms)-1].Version {
		t.Errorf("schema_migrations lists %v, want each of the %d embedded migrations once", got, len(ms))
	}
	// With pg_trgm in the database, search has its trigram index.
	var ext, index bool
	stores[0].pool.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'), "+
		"EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'messages_content_trgm')").Scan(&ext, &index)
	if ext != index {
		t.Errorf("pg_trgm installed: %v; trigram index: %v", ext, index)
	}

	// Every replica works on the one schema.
	sid := hxchat.NewID()
	if err := stores[1].CreateSession(t.Context(), sid); err != nil {
		t.Fatal(err)
	}
	if ok, err := stores[replicas-1].SessionExists(t.Context(), sid); err != nil || !ok {
		t.Errorf("SessionExists on another replica = %v, %v", ok, err)
	}

	// Opening an up-to-date schema changes nothing.
	var before string
	stores[0].pool.QueryRow(t.Context(), "SELECT string_agg(version || '@' || applied_at, ',') FROM schema_migrations").Scan(&before)
	openTest(t, url)
	var after string
	stores[0].pool.QueryRow(t.Context(), "SELECT string_agg(version || '@' || applied_at, ',') FROM schema_migrations").Scan(&after)
	if before != after {
		t.Errorf("reopening: schema_migrations %q, was %q", after, before)
	}
}

// TestFutureSchemaRefused: a replica refuses a schema that a newer hxchat
// migrated further, and says so.
func TestFutureSchemaRefused(t *testing.T) {
	url := pgtest.URL(t)
	s := openTest(t, url)
	if _, err := s.pool.Exec(t.Context(), "INSERT INTO schema_migrations (version) VALUES (9999)"); err != nil {
		t.Fatal(err)
	}
	other, err := Open(t.Context(), url)
	if err == nil {
		other.Close()
		t.Fatal("Open of a schema newer than this hxchat knows: no error")
	}
	if !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "newer") {
		t.Errorf("the error does not say the schema is newer: %v", err)
	}
}

// TestMigrationFailureRollsBack: a migration that fails leaves neither its
// changes nor its version, and the next Open tries it again.
func TestMigrationFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, pgtest.URL(t))
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	next := ms[len(ms)-1].Version + 1
	bad, err := loadMigrations(fstest.MapFS{
		fmt.Sprintf("m/%04d_bad.sql", next): {Data: []byte("CREATE TABLE half_done (x int); SELECT * FROM no_such_table;")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, s.pool, append(ms, bad...)); err == nil {
		t.Fatal("a failing migration: no error")
	}
	var n int
	s.pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'half_done'").Scan(&n)
	if n != 0 {
		t.Error("a failed migration left its table")
	}
	if vs := versions(t, s); vs[len(vs)-1] == next {
		t.Error("a failed migration was recorded")
	}
}

func TestLoadMigrationsRefusesBadNames(t *testing.T) {
	for _, name := range []string{"init.sql", "0_init.sql", "x1_init.sql", "-1_init.sql"} {
		if _, err := loadMigrations(fstest.MapFS{"m/" + name: {Data: []byte("SELECT 1")}}, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := loadMigrations(fstest.MapFS{
		"m/0001_a.sql": {Data: []byte("SELECT 1")}, "m/0001_b.sql": {Data: []byte("SELECT 1")},
	}, "m"); err == nil {
		t.Error("two migrations with one version: no error")
	}
}

// TestOpenBadURL: a URL that does not parse, or a server that is not there,
// is a clear error that does not show the password.
func TestOpenBadURL(t *testing.T) {
	for _, url := range []string{
		"postgres://hx:s3cret-pw@127.0.0.1:1/db?connect_timeout=2",
		"postgres://hx:s3cret-pw@127.0.0.1:5432/db?sslmode=nonsense",
	} {
		s, err := Open(t.Context(), url)
		if err == nil {
			s.Close()
			t.Errorf("Open(%s): no error", url)
			continue
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("Open(%s): the error shows the password: %v", url, err)
		}
	}
}

// TestTextPostgresCannotHold: NUL and invalid UTF-8, which PostgreSQL's text
// refuses, are stored as U+FFFD instead of failing the write (the web layer
// refuses them from users; a model could still send them).
func TestTextPostgresCannotHold(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, pgtest.URL(t))
	conv := &hxchat.Conversation{SessionID: hxchat.NewID()}
	user, answer := &hxchat.Message{Content: "a\x00b"}, &hxchat.Message{}
	if err := s.StartTurn(ctx, conv, user, answer); err != nil {
		t.Fatalf("StartTurn: %v", err)
	}
	if err := s.Checkpoint(ctx, answer.ID, "bad \xff byte"); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if err := s.Checkpoints(ctx, []hxchat.Partial{{ID: answer.ID, Content: "nul \x00 here"}}); err != nil {
		t.Fatalf("Checkpoints: %v", err)
	}
	if err := s.FinishAnswer(ctx, &hxchat.Message{ID: answer.ID, State: hxchat.StateDone, Content: "end \x00\xfe"}); err != nil {
		t.Fatalf("FinishAnswer: %v", err)
	}
	ms, err := s.Messages(ctx, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Content != "a\uFFFDb" || ms[1].Content != "end \uFFFD\uFFFD" {
		t.Errorf("stored %q and %q", ms[0].Content, ms[1].Content)
	}
}

// TestSearchQuery: what SearchConversations does beyond the shared suite:
// spaces around the query are ignored, a query too long is refused as too
// large, and the longest one accepted, all escaped, is a valid pattern.
func TestSearchQuery(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, pgtest.URL(t))
	sid := hxchat.NewID()
	conv := &hxchat.Conversation{SessionID: sid}
	if err := s.StartTurn(ctx, conv, &hxchat.Message{Content: "東京に行きたい"}, &hxchat.Message{}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{" 東京 ", "　東京\n", "\t行き"} {
		cs, err := s.SearchConversations(ctx, sid, q)
		if err != nil || len(cs) != 1 || cs[0].ID != conv.ID {
			t.Errorf("SearchConversations(%q) = %+v, %v; want the conversation", q, cs, err)
		}
	}
	for _, q := range []string{strings.Repeat("%", 4097), strings.Repeat("東", 30000)} {
		cs, err := s.SearchConversations(ctx, sid, q)
		if hxchat.Code(err) != hxchat.ETooLarge || cs != nil {
			t.Errorf("SearchConversations(%d bytes) = %v, %v; want nil, too large", len(q), cs, err)
		}
	}
	if cs, err := s.SearchConversations(ctx, sid, strings.Repeat(`\`, 4096)); err != nil || len(cs) != 0 {
		t.Errorf("SearchConversations(4096 backslashes) = %v, %v; want none, nil", cs, err)
	}
}

// TestQueryPlans: with the planner told to avoid sequential scans, the hot
// queries can use an index for every table they read (a sequential scan
// left in the plan means no index serves the query). Whether search reads
// the trigram index depends on the data (BenchmarkSearch shows it on
// 10,000 conversations); here, on empty tables, it goes by the session.
func TestQueryPlans(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, pgtest.URL(t))
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "RESET enable_seqscan")
	explain := func(q string, args ...any) string {
		rows, err := conn.Query(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", q, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	for _, q := range []string{
		"SELECT " + conversationColumns + " FROM conversations c WHERE c.session_id = 'x'" + listSQL,
		"SELECT " + messageColumns + " FROM messages m WHERE m.conversation_id = 'x' ORDER BY m.id",
		"SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = 'x' AND state = 'streaming')",
		"SELECT EXISTS (SELECT 1 FROM messages WHERE id = 1 AND conversation_id = 'x')",
		"UPDATE conversations SET current_id = 1 WHERE id = 'x' AND session_id = 'y' AND EXISTS (SELECT 1 FROM messages WHERE id = 1 AND conversation_id = 'x')",
		"UPDATE messages SET state = 'interrupted' WHERE state = 'streaming'",
		"DELETE FROM conversations WHERE id = 'x' AND session_id = 'y'",
	} {
		p := explain(q)
		t.Logf("%s\n%s", q, p)
		if strings.Contains(p, "Seq Scan") {
			t.Errorf("%s:\n%s", q, p)
		}
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{hitsSQL, []any{"x", "%server-sent%"}},
		{foundSQL, []any{"x", "%server-sent%", []string{"a", "b"}}},
	} {
		p := explain(q.sql, q.args...)
		t.Logf("%s\n%s", q.sql, p)
		if strings.Contains(p, "Seq Scan") {
			t.Errorf("%s:\n%s", q.sql, p)
		}
	}
}

// TestWithoutTrigram: where the role may not create pg_trgm (here: a role
// without CREATE on a database of its own that lacks the extension), the
// first migration still succeeds, without the trigram index, and search
// works, folded, by reading the session's messages.
func TestWithoutTrigram(t *testing.T) {
	ctx := t.Context()
	pgtest.URL(t) // skips, or fails in CI, when there is no server
	admin, err := pgx.Connect(ctx, pgtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) }) // after the cleanup below
	name := "hx_t_" + strings.ToLower(hxchat.NewID())[:12]
	for _, q := range []string{"CREATE ROLE " + name + " LOGIN", "CREATE DATABASE " + name} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Skipf("this server does not let the tests make a role and a database (%v)", err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		if _, err := admin.Exec(ctx, "DROP ROLE "+name); err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	u, err := neturl.Parse(pgtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	owner, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = owner.Exec(ctx, "CREATE SCHEMA hx AUTHORIZATION "+name)
	owner.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u.User = neturl.User(name)
	q := u.Query()
	q.Set("search_path", "hx")
	u.RawQuery = q.Encode()

	s := openTest(t, u.String())
	var ext, index bool
	s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'), "+
		"EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'messages_content_trgm')").Scan(&ext, &index)
	if ext || index {
		t.Fatalf("pg_trgm installed: %v, trigram index: %v; want neither", ext, index)
	}
	sid := hxchat.NewID()
	conv := &hxchat.Conversation{SessionID: sid}
	if err := s.StartTurn(ctx, conv, &hxchat.Message{Content: "ＳＳＥ で回答を流すには？"}, &hxchat.Message{}); err != nil {
		t.Fatal(err)
	}
	for _, query := range []string{"sse", "ＳＳＥ で", "回答"} {
		cs, err := s.SearchConversations(ctx, sid, query)
		if err != nil || len(cs) != 1 || cs[0].Snippet != "ＳＳＥ で回答を流すには？" {
			t.Errorf("SearchConversations(%q) = %+v, %v", query, cs, err)
		}
	}
}

// TestCheckpointsTwice: an answer given twice in one batch gets its last
// text, as if the batch were saved in order (one statement cannot update a
// row twice).
func TestCheckpointsTwice(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, pgtest.URL(t))
	conv := &hxchat.Conversation{SessionID: hxchat.NewID()}
	answer := &hxchat.Message{}
	if err := s.StartTurn(ctx, conv, &hxchat.Message{Content: "q"}, answer); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoints(ctx, []hxchat.Partial{{ID: answer.ID, Content: "first"}, {ID: answer.ID + 100, Content: "gone"},
		{ID: answer.ID, Content: "second"}}); err != nil {
		t.Fatalf("Checkpoints: %v", err)
	}
	if m, err := s.Message(ctx, conv.ID, answer.ID); err != nil || m.Content != "second" {
		t.Errorf("after Checkpoints: %+v, %v; want the text \"second\"", m, err)
	}
}

// TestHeartbeatBesidesBusyPool: a replica whose every pooled connection is
// taken by requests still renews its leases and sweeps, on the connection
// of its own; with the heartbeat in the pool it would wait behind them and
// be taken for dead while merely busy.
func TestHeartbeatBesidesBusyPool(t *testing.T) {
	u, err := neturl.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "2")
	u.RawQuery = q.Encode()
	s := openTest(t, u.String())
	if got := s.pool.Config().MaxConns; got != 2 {
		t.Fatalf("pool_max_conns=2 gave a pool of %d", got)
	}
	if _, err := s.Join(t.Context(), "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c, err := s.pool.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := s.Heartbeat(ctx); err != nil {
		t.Fatalf("Heartbeat with the pool taken: %v", err)
	}
	if _, err := s.TakeExpired(ctx, time.Minute); err != nil {
		t.Fatalf("TakeExpired with the pool taken: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping got a connection of a pool whose every connection is taken: the test proves nothing")
	}
}

// TestDefaultPoolSize: without pool_max_conns the pool has defaultMaxConns.
func TestDefaultPoolSize(t *testing.T) {
	s := openTest(t, pgtest.URL(t))
	if got := s.pool.Config().MaxConns; got != defaultMaxConns {
		t.Fatalf("pool of %d connections, want %d", got, defaultMaxConns)
	}
}

// TestDefaultMinConns: without pool_min_conns the pool keeps
// defaultMinConns open (and no more than its size); the URL's setting wins.
func TestDefaultMinConns(t *testing.T) {
	u, err := neturl.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		min, max string
		want     int32
	}{{"", "", defaultMinConns}, {"", "3", 3}, {"2", "", 2}} {
		q := u.Query()
		q.Del("pool_min_conns") // pgtest sets 0
		if c.min != "" {
			q.Set("pool_min_conns", c.min)
		}
		if c.max != "" {
			q.Set("pool_max_conns", c.max)
		}
		v := *u
		v.RawQuery = q.Encode()
		s := openTest(t, v.String())
		if got := s.pool.Config().MinConns; got != c.want {
			t.Errorf("pool_min_conns %q, pool_max_conns %q: the pool keeps %d open, want %d", c.min, c.max, got, c.want)
		}
		s.Close()
	}
}
