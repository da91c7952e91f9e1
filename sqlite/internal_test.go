package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/hxchat/hxchat"
)

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPragmas checks the pragmas on several pooled connections at once, so
// that each is a distinct connection, not the one Open pinged.
func TestPragmas(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "hxchat.db"))

	if n := s.w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("the writer pool allows %d connections, want 1", n)
	}

	const readers = 3
	var conns []*sql.Conn
	for range readers {
		c, err := s.r.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	w, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	conns = append(conns, w)

	for i, c := range conns {
		name := fmt.Sprintf("reader %d", i)
		queryOnly := "1"
		if i == readers {
			name, queryOnly = "writer", "0"
		}
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"foreign_keys": "1",
			"busy_timeout": "5000",
			"synchronous":  "1", // NORMAL
			"query_only":   queryOnly,
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", name, pragma, err)
			}
			if strings.ToLower(got) != want {
				t.Errorf("%s: PRAGMA %s = %s, want %s", name, pragma, got, want)
			}
		}
	}

	// The readers cannot write.
	if _, err := conns[0].ExecContext(ctx, "INSERT INTO sessions (id, created_at) VALUES ('x', 0)"); err == nil {
		t.Error("a reader connection could write")
	}
}

// TestBeginImmediate: the writer's transactions take the write lock at
// BEGIN, so another connection cannot write while one is open, even one that
// has only read so far.
func TestBeginImmediate(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hxchat.db")
	s := openTest(t, path)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// Only a read so far; a DEFERRED transaction would hold no write lock yet.
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sessions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, "INSERT INTO sessions (id, created_at) VALUES ('x', 0)"); err == nil {
		t.Error("another connection wrote during a writer transaction: it does not begin IMMEDIATE")
	}
}

func TestMigrationsFromEmpty(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "hxchat.db"))
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("migrations: %+v", ms)
	}
	var versions []int64
	rows, err := s.r.QueryContext(ctx, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v, at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		if at <= 0 {
			t.Errorf("version %d: applied_at %d", v, at)
		}
		versions = append(versions, v)
	}
	rows.Close()
	if len(versions) != len(ms) || versions[len(versions)-1] != ms[len(ms)-1].Version {
		t.Errorf("schema_migrations lists %v, want the %d embedded migrations", versions, len(ms))
	}
	for _, table := range []string{"sessions", "conversations", "messages"} {
		var n int
		if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: %d, %v", table, n, err)
		}
	}
	for _, index := range []string{"conversations_session_updated", "messages_conversation_id", "messages_streaming"} {
		var n int
		if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?", index).Scan(&n); err != nil || n != 1 {
			t.Errorf("index %s: %d, %v", index, n, err)
		}
	}

	// Migrating again changes nothing.
	var before string
	s.r.QueryRowContext(ctx, "SELECT group_concat(version || ':' || applied_at) FROM schema_migrations").Scan(&before)
	if err := migrate(ctx, s.w, ms); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	var after string
	s.r.QueryRowContext(ctx, "SELECT group_concat(version || ':' || applied_at) FROM schema_migrations").Scan(&after)
	if before != after {
		t.Errorf("migrate again: schema_migrations %q, was %q", after, before)
	}
}

// TestMigrationFailureRollsBack: a migration that fails leaves neither its
// changes nor its version, and the next Open tries it again.
func TestMigrationFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "hxchat.db"))
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	next := ms[len(ms)-1].Version + 1
	bad, err := loadMigrations(fstest.MapFS{
		fmt.Sprintf("m/%04d_bad.sql", next): {Data: []byte("CREATE TABLE half_done (x INTEGER); SELECT * FROM no_such_table;")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, s.w, append(ms, bad...)); err == nil {
		t.Fatal("a failing migration: no error")
	}
	var n int
	s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'").Scan(&n)
	if n != 0 {
		t.Error("a failed migration left its table")
	}
	s.r.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", next).Scan(&n)
	if n != 0 {
		t.Error("a failed migration was recorded")
	}
}

// TestMigrateFromVersion1: a database made by the first release (schema
// version 1, with data) opens, gains the conversation options with empty
// defaults, keeps its rows and stays STRICT.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hxchat.db")
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 || ms[0].Version != 1 || ms[1].Version != 2 {
		t.Fatalf("migrations: %+v", ms)
	}

	// Version 1 only, as the first release left it, with a conversation.
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db, ms[:1]); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info('conversations') WHERE name IN ('system_prompt', 'model')").Scan(&n); err != nil || n != 0 {
		t.Fatalf("version 1 has %d of the new columns, %v", n, err)
	}
	sid, cid := hxchat.NewID(), hxchat.NewID()
	for _, q := range []string{
		"INSERT INTO sessions (id, created_at) VALUES ('" + sid + "', 1700000000000)",
		"INSERT INTO conversations (id, session_id, title, created_at, updated_at) VALUES ('" + cid + "', '" + sid + "', '古い会話', 1700000000000, 1700000001000)",
		"INSERT INTO messages (conversation_id, role, content, state, created_at, updated_at) VALUES ('" + cid + "', 'user', 'old question', 'done', 1700000000000, 1700000000000)",
		"INSERT INTO messages (conversation_id, role, content, state, finish_reason, model, created_at, updated_at) VALUES ('" + cid + "', 'assistant', 'old answer', 'done', 'stop', 'gpt-4', 1700000000500, 1700000001000)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var applied1 int64
	db.QueryRowContext(ctx, "SELECT applied_at FROM schema_migrations WHERE version = 1").Scan(&applied1)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Open migrates it to the last version.
	s := openTest(t, path)
	var versions string
	s.r.QueryRowContext(ctx, "SELECT group_concat(version, ',') FROM (SELECT version FROM schema_migrations ORDER BY version)").Scan(&versions)
	if want := fmt.Sprint(ms[len(ms)-1].Version); !strings.HasPrefix(versions, "1,2") || !strings.HasSuffix(versions, want) {
		t.Errorf("schema_migrations after Open: %s, want 1, 2, ... %s", versions, want)
	}
	var again int64
	s.r.QueryRowContext(ctx, "SELECT applied_at FROM schema_migrations WHERE version = 1").Scan(&again)
	if again != applied1 {
		t.Errorf("version 1 applied again: applied_at %d, was %d", again, applied1)
	}
	// Still STRICT, the new columns TEXT NOT NULL DEFAULT ''.
	var strict int
	if err := s.r.QueryRowContext(ctx, "SELECT strict FROM pragma_table_list WHERE name = 'conversations'").Scan(&strict); err != nil || strict != 1 {
		t.Errorf("conversations strict = %d, %v; want 1", strict, err)
	}
	for _, col := range []string{"system_prompt", "model"} {
		var typ, dflt string
		var notNull int
		err := s.r.QueryRowContext(ctx, "SELECT type, \"notnull\", dflt_value FROM pragma_table_info('conversations') WHERE name = ?", col).Scan(&typ, &notNull, &dflt)
		if err != nil || typ != "TEXT" || notNull != 1 || dflt != "''" {
			t.Errorf("column %s: %s, not null %d, default %s, %v; want TEXT, 1, ''", col, typ, notNull, dflt, err)
		}
	}
	if _, err := s.w.ExecContext(ctx, "UPDATE conversations SET model = NULL"); err == nil {
		t.Error("a NULL model was stored")
	}

	// The old rows are there, with empty options.
	c, err := s.Conversation(ctx, sid, cid)
	if err != nil {
		t.Fatalf("Conversation after migrating: %v", err)
	}
	if c.Title != "古い会話" || c.SystemPrompt != "" || c.Model != "" ||
		c.CreatedAt.UnixMilli() != 1700000000000 || c.UpdatedAt.UnixMilli() != 1700000001000 {
		t.Errorf("conversation after migrating = %+v", c)
	}
	msgs, err := s.Messages(ctx, cid)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("Messages after migrating = %d, %v", len(msgs), err)
	}
	if msgs[0].Content != "old question" || msgs[1].Content != "old answer" || msgs[1].Model != "gpt-4" ||
		msgs[1].State != hxchat.StateDone || msgs[1].FinishReason != "stop" {
		t.Errorf("messages after migrating = %+v", msgs)
	}

	// And they work with the new methods.
	if err := s.SetConversationOptions(ctx, sid, cid, "Be brief.", "gpt-4o"); err != nil {
		t.Fatalf("SetConversationOptions after migrating: %v", err)
	}
	user, answer := msgs[0], &hxchat.Message{Model: "gpt-4o"}
	user.Content = "old question, edited"
	if err := s.EditTurn(ctx, &user, answer); err != nil {
		t.Fatalf("EditTurn after migrating: %v", err)
	}
	if answer.ID <= msgs[1].ID {
		t.Errorf("EditTurn after migrating: answer id %d, not after %d", answer.ID, msgs[1].ID)
	}
	c, err = s.Conversation(ctx, sid, cid)
	if err != nil || c.SystemPrompt != "Be brief." || c.Model != "gpt-4o" || c.Title != "古い会話" {
		t.Errorf("conversation after SetConversationOptions and EditTurn = %+v, %v", c, err)
	}
	if err := s.Integrity(ctx); err != nil {
		t.Error(err)
	}
}

// TestMigrateFromVersion2: a database of schema version 2 (before
// versions of messages), with data, opens; each conversation becomes one
// branch (each message follows the one before it) shown to its last
// message, and an edit then keeps the old branch.
func TestMigrateFromVersion2(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hxchat.db")
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 3 || ms[1].Version != 2 || ms[2].Version != 3 {
		t.Fatalf("migrations: %+v", ms)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db, ms[:2]); err != nil {
		t.Fatalf("migrate to version 2: %v", err)
	}
	// Two conversations whose messages interleave, as two tabs write them.
	sid, a, b := hxchat.NewID(), hxchat.NewID(), hxchat.NewID()
	stmts := []string{
		"INSERT INTO sessions (id, created_at) VALUES ('" + sid + "', 1700000000000)",
		"INSERT INTO conversations (id, session_id, title, created_at, updated_at) VALUES ('" + a + "', '" + sid + "', 'a', 1700000000000, 1700000009000)",
		"INSERT INTO conversations (id, session_id, title, created_at, updated_at) VALUES ('" + b + "', '" + sid + "', 'b', 1700000000000, 1700000008000)",
	}
	for i, conv := range []string{a, b, a, b, a, a} {
		role := "user"
		if i >= 2 && i != 4 || i == 5 {
			role = "assistant"
		}
		stmts = append(stmts, fmt.Sprintf("INSERT INTO messages (id, conversation_id, role, content, state, created_at, updated_at) VALUES (%d, '%s', '%s', 'message %d', 'done', %d, %d)",
			i+1, conv, role, i+1, 1700000000000+i, 1700000000000+i))
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, path)
	for _, tc := range []struct {
		conv    string
		parents map[int64]int64
		current int64
	}{
		{a, map[int64]int64{1: 0, 3: 1, 5: 3, 6: 5}, 6},
		{b, map[int64]int64{2: 0, 4: 2}, 4},
	} {
		c, err := s.Conversation(ctx, sid, tc.conv)
		if err != nil {
			t.Fatal(err)
		}
		if c.CurrentID != tc.current || c.UpdatedAt.UnixMilli() < 1700000008000 {
			t.Errorf("conversation %s after migrating: %+v, want current %d", c.Title, c, tc.current)
		}
		msgs, err := s.Messages(ctx, tc.conv)
		if err != nil || len(msgs) != len(tc.parents) {
			t.Fatalf("Messages(%s) after migrating = %d, %v", c.Title, len(msgs), err)
		}
		for _, m := range msgs {
			if m.ParentID != tc.parents[m.ID] {
				t.Errorf("message %d follows %d, want %d", m.ID, m.ParentID, tc.parents[m.ID])
			}
		}
		if br := hxchat.NewThread(msgs).Branch(c.CurrentID); len(br) != len(msgs) {
			t.Errorf("conversation %s: branch of %d messages, want all %d", c.Title, len(br), len(msgs))
		}
	}
	var parent sql.NullInt64
	s.r.QueryRowContext(ctx, "SELECT parent_id FROM messages WHERE id = 1").Scan(&parent)
	if parent.Valid {
		t.Errorf("a first question follows %d, want NULL", parent.Int64)
	}

	// An edit of the second question of a keeps the old branch.
	user, err := s.Message(ctx, a, 5)
	if err != nil {
		t.Fatal(err)
	}
	user.Content = "message 5, edited"
	answer := &hxchat.Message{}
	if err := s.EditTurn(ctx, user, answer); err != nil {
		t.Fatalf("EditTurn after migrating: %v", err)
	}
	msgs, _ := s.Messages(ctx, a)
	th := hxchat.NewThread(msgs)
	if len(msgs) != 6 || user.ParentID != 3 || len(th.Versions(5)) != 2 || len(th.Branch(6)) != 4 {
		t.Errorf("after an edit: %d messages, new version after %d, versions %v", len(msgs), user.ParentID, th.Versions(5))
	}
	if err := s.Integrity(ctx); err != nil {
		t.Error(err)
	}
}

func TestLoadMigrationsRefusesBadNames(t *testing.T) {
	for _, fsys := range []fstest.MapFS{
		{"m/init.sql": {Data: []byte("SELECT 1")}},
		{"m/x_init.sql": {Data: []byte("SELECT 1")}},
		{"m/0001_a.sql": {Data: []byte("SELECT 1")}, "m/1_b.sql": {Data: []byte("SELECT 1")}},
	} {
		if _, err := loadMigrations(fsys, "m"); err == nil {
			t.Errorf("loadMigrations(%v): no error", fsys)
		}
	}
}

// TestForeignKeysCascade: foreign keys are enforced, and a conversation's
// messages go with it.
func TestForeignKeysCascade(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "hxchat.db"))
	if _, err := s.w.ExecContext(ctx, "INSERT INTO messages (conversation_id, role, state, created_at, updated_at) VALUES ('nope', 'user', 'done', 0, 0)"); err == nil {
		t.Error("a message of a missing conversation was stored")
	}
	sid := hxchat.NewID()
	if err := s.CreateSession(ctx, sid); err != nil {
		t.Fatal(err)
	}
	conv := &hxchat.Conversation{SessionID: sid}
	if err := s.StartTurn(ctx, conv, &hxchat.Message{Content: "q"}, &hxchat.Message{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", sid); err != nil {
		t.Fatal(err)
	}
	var n int
	s.r.QueryRowContext(ctx, "SELECT count(*) FROM messages").Scan(&n)
	if n != 0 {
		t.Errorf("%d messages left after their session was deleted", n)
	}
	if err := s.Integrity(ctx); err != nil {
		t.Error(err)
	}
}

// TestTwoStoresOneFile: two Stores on one file (as two processes would be)
// write at once; busy_timeout and BEGIN IMMEDIATE make them wait, not fail.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hxchat.db")
	stores := []*Store{openTest(t, path), openTest(t, path)}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			s := stores[i%2]
			sid := hxchat.NewID()
			if err := s.CreateSession(ctx, sid); err != nil {
				t.Errorf("CreateSession: %v", err)
				return
			}
			conv := &hxchat.Conversation{SessionID: sid}
			for j := range 5 {
				answer := &hxchat.Message{}
				if err := s.StartTurn(ctx, conv, &hxchat.Message{Content: "q"}, answer); err != nil {
					t.Errorf("StartTurn: %v", err)
					return
				}
				if err := s.Checkpoint(ctx, answer.ID, strings.Repeat("x", j)); err != nil {
					t.Errorf("Checkpoint: %v", err)
					return
				}
				if err := s.FinishAnswer(ctx, &hxchat.Message{ID: answer.ID, State: hxchat.StateDone}); err != nil {
					t.Errorf("FinishAnswer: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	var n int
	stores[0].r.QueryRowContext(ctx, "SELECT count(*) FROM messages").Scan(&n)
	if n != 10*5*2 {
		t.Errorf("%d messages, want %d", n, 10*5*2)
	}
}

// TestQueryPlans: the hot queries use the indexes, without sorting.
func TestQueryPlans(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "hxchat.db"))
	for _, q := range []string{
		"SELECT " + conversationColumns + " FROM conversations WHERE session_id = 'x' ORDER BY updated_at DESC, rowid DESC",
		"SELECT " + messageColumns + " FROM messages WHERE conversation_id = 'x' ORDER BY id",
		"SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = 'x' AND state = 'streaming')",
		"SELECT EXISTS (SELECT 1 FROM messages WHERE id = 1 AND conversation_id = 'x')",
		"UPDATE conversations SET current_id = 1 WHERE id = 'x' AND session_id = 'y' AND EXISTS (SELECT 1 FROM messages WHERE id = 1 AND conversation_id = 'x')",
		"UPDATE messages SET state = 'interrupted' WHERE state = 'streaming'",
		strings.NewReplacer("?", "'x'").Replace(searchSQL),
	} {
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		t.Logf("%s\n\t%s", q, p)
		if !strings.Contains(p, "USING") || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s:\n\tplan %s", q, p)
		}
	}
}
