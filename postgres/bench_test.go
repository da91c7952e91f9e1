package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/postgres/pgtest"
	"github.com/hxchat/hxchat/storetest"
)

// BenchmarkSearch searches one session's 10,000 conversations (40,000
// messages; see storetest.SearchQueries for the queries), first with the
// pg_trgm index on the folded text, then without it (the index dropped), as
// a database without pg_trgm runs; each query logs the plan of its hits
// (indexes read, tables read whole). list is Conversations, for comparison.
// Filling the schema takes about half a minute.
//
//	go test -run '^$' -bench Search -benchtime 20x ./postgres
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sid := hxchat.NewID()
	if err := s.CreateSession(ctx, sid); err != nil {
		b.Fatal(err)
	}
	storetest.FillSearch(b, s, sid)
	if _, err := s.pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	b.Run("list", func(b *testing.B) {
		for b.Loop() {
			if cs, err := s.Conversations(ctx, sid); err != nil || len(cs) != storetest.SearchConversations {
				b.Fatalf("Conversations: %d, %v", len(cs), err)
			}
		}
	})
	plan := func(query string) string { return plan(b, s, sid, query) }
	storetest.BenchSearch(b, s, sid, "trgm/", plan)
	if _, err := s.pool.Exec(ctx, "DROP INDEX IF EXISTS messages_content_trgm"); err != nil {
		b.Fatal(err)
	}
	storetest.BenchSearch(b, s, sid, "no-trgm/", plan)
}

// plan returns the indexes the plan of hitsSQL for query reads, and the
// tables it reads whole.
func plan(b *testing.B, s *Store, sid, query string) string {
	rows, err := s.pool.Query(context.Background(), "EXPLAIN "+hitsSQL, pgx.QueryExecModeExec, sid, "%"+likeEscaper.Replace(query)+"%")
	if err != nil {
		b.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	var used []string
	for _, l := range lines {
		if _, after, ok := strings.Cut(l, " on "); ok && strings.Contains(l, "Index") {
			used = append(used, strings.Fields(after)[0])
		}
		if _, after, ok := strings.Cut(l, "Seq Scan on "); ok {
			used = append(used, "seq scan "+strings.Fields(after)[0])
		}
	}
	return strings.Join(used, ", ")
}
