package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/sqlite"
	"github.com/hxchat/hxchat/storetest"
)

// BenchmarkCheckpoints saves a batch of 1, 100 and 1,000 growing answers with
// Store.Checkpoints, as the runner's saver does once a second: an op is one
// batch, in one transaction; ns/answer is the cost per answer saved. The
// database is a real file in a temporary directory. Between two batches each
// answer grows by 200 bytes (about a second of tokens); answers run from 200
// bytes to 8,000 and start again (a new answer), 4 KiB on average.
//
//	go test -run '^$' -bench Checkpoints -benchmem ./sqlite
func BenchmarkCheckpoints(b *testing.B) {
	s, sid := benchStore(b)
	storetest.BenchCheckpoints(b, s, sid)
}

// BenchmarkStartTurn stores the first turn of a new conversation and the
// next turn of one that has some, each in its one transaction, as a message
// sent from the page does: a part of the cost of the POST that starts an
// answer (with the templates, web's BenchmarkTemplates, and the model
// request).
//
//	go test -run '^$' -bench StartTurn -benchmem ./sqlite
func BenchmarkStartTurn(b *testing.B) {
	s, sid := benchStore(b)
	storetest.BenchStartTurn(b, s, sid)
}

// BenchmarkSearch searches one session's 10,000 conversations (40,000
// messages; see storetest.SearchQueries), as postgres' BenchmarkSearch does,
// for comparison: SQLite folds every message of the session as it reads
// it. list is Conversations.
//
//	go test -run '^$' -bench Search -benchtime 20x ./sqlite
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	s, sid := benchStore(b)
	storetest.FillSearch(b, s, sid)
	b.Run("list", func(b *testing.B) {
		for b.Loop() {
			if cs, err := s.Conversations(ctx, sid); err != nil || len(cs) != storetest.SearchConversations {
				b.Fatalf("Conversations: %d, %v", len(cs), err)
			}
		}
	})
	storetest.BenchSearch(b, s, sid, "", nil)
}

// benchStore opens a store on a new file in a temporary directory, closed
// when b ends, with one session; it returns the store and the session.
func benchStore(b *testing.B) (*sqlite.Store, string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "hxchat.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	sid := hxchat.NewID()
	if err := s.CreateSession(ctx, sid); err != nil {
		b.Fatal(err)
	}
	return s, sid
}
