package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/sqlite"
	"github.com/hxchat/hxchat/storetest"
)

// open opens a store on path and closes it when the test ends.
func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hxchat.Store {
		s := open(t, filepath.Join(t.TempDir(), "hxchat.db"))
		t.Cleanup(func() {
			// Runs before Close: whatever the suite did left a sound file.
			if err := s.Integrity(context.Background()); err != nil {
				t.Errorf("Integrity: %v", err)
			}
		})
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hxchat.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	sid := hxchat.NewID()
	if err := s.CreateSession(ctx, sid); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	conv := &hxchat.Conversation{SessionID: sid}
	user, answer := &hxchat.Message{Content: "Will you remember this?"}, &hxchat.Message{Model: "m"}
	if err := s.StartTurn(ctx, conv, user, answer); err != nil {
		t.Fatalf("StartTurn: %v", err)
	}
	if !hxchat.ValidID(conv.ID) || conv.Title != "Will you remember this?" {
		t.Errorf("new conversation without id or title: id %q, title %q", conv.ID, conv.Title)
	}
	if err := s.Checkpoint(ctx, answer.ID, "Yes, I"); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	// The process dies here: the answer is still streaming.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, path)
	if ok, err := s.SessionExists(ctx, sid); err != nil || !ok {
		t.Fatalf("SessionExists after reopen = %v, %v", ok, err)
	}
	got, err := s.Conversation(ctx, sid, conv.ID)
	if err != nil {
		t.Fatalf("Conversation after reopen: %v", err)
	}
	if got.Title != conv.Title || !got.CreatedAt.Equal(conv.CreatedAt) || !got.UpdatedAt.Equal(conv.UpdatedAt) {
		t.Errorf("Conversation after reopen = %+v, want %+v", got, conv)
	}
	n, err := s.InterruptStreaming(ctx)
	if err != nil || n != 1 {
		t.Fatalf("InterruptStreaming after reopen = %d, %v; want 1", n, err)
	}
	ms, err := s.Messages(ctx, conv.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("Messages after reopen = %d, %v", len(ms), err)
	}
	if ms[0].ID != user.ID || ms[0].Content != user.Content || ms[1].ID != answer.ID ||
		ms[1].Content != "Yes, I" || ms[1].State != hxchat.StateInterrupted {
		t.Errorf("messages after reopen = %+v", ms)
	}
	if err := s.Integrity(ctx); err != nil {
		t.Errorf("Integrity: %v", err)
	}
}

func TestOpenCreatesDirectories(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "nested dir?#%", "hxchat.db")
	s := open(t, path)
	if err := s.CreateSession(t.Context(), hxchat.NewID()); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	// The file is where asked, despite the characters URIs treat specially,
	// and private.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("database file mode %v, want no access for group and others", perm)
	}
}

func TestOpenRefusesMemory(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file::memory:?cache=shared"} {
		if s, err := sqlite.Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", p)
		}
	}
}

func TestFutureSchemaRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hxchat.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()

	// A newer hxchat migrated this file further.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = sqlite.Open(ctx, path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database with a newer schema: no error")
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Errorf("error does not name the version: %v", err)
	}
}

func TestIntegrity(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hxchat.db")
	s := open(t, path)
	if err := s.Integrity(ctx); err != nil {
		t.Errorf("Integrity of a new database: %v", err)
	}

	// A connection without foreign_keys (the SQLite default) stores an
	// orphan message; Integrity finds it.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "INSERT INTO messages (conversation_id, role, state, created_at, updated_at) VALUES ('gone', 'user', 'done', 0, 0)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Integrity(ctx); err == nil || !strings.Contains(err.Error(), "messages") {
		t.Errorf("Integrity with an orphan message = %v, want an error naming messages", err)
	}
}

// TestSearchQuery: what SearchConversations does beyond the shared suite:
// spaces around the query are ignored, and a query too long for a LIKE
// pattern is refused as too large, not failed as an internal error.
func TestSearchQuery(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "hxchat.db"))
	sid := hxchat.NewID()
	if err := s.CreateSession(ctx, sid); err != nil {
		t.Fatal(err)
	}
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
	// The longest query accepted, all escaped, is still a valid pattern.
	if cs, err := s.SearchConversations(ctx, sid, strings.Repeat(`\`, 4096)); err != nil || len(cs) != 0 {
		t.Errorf("SearchConversations(4096 backslashes) = %v, %v; want none, nil", cs, err)
	}
}
