package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/postgres/pgtest"
)

// BenchmarkSearch searches one session's 10,000 conversations (two turns
// each: 40,000 messages, about 30 MB of text, English and Japanese) for:
//
//	rare        HX-04242     a ticket number: 1 conversation
//	word        kubernetes   a word of 100 conversations' answers
//	fullwidth   sse          3 letters, written ＳＳＥ in 200 questions
//	japanese    東京          2 characters (no trigram): 1,000 conversations
//	common      ticket       every conversation
//	none        zzqxj        no conversation
//
// first with the pg_trgm index on the folded text, then without it (the
// index dropped), as a database without pg_trgm runs. list is
// Conversations, for comparison. Filling the schema takes about a minute.
//
//	go test -run '^$' -bench Search -benchtime 20x ./postgres
func BenchmarkSearch(b *testing.B) {
	const convs = 10000
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
	fill(b, s, sid, convs)
	if _, err := s.pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}

	queries := []struct {
		name, query string
		want        int
	}{
		{"rare", "HX-04242", 1},
		{"word", "kubernetes", convs / 100},
		{"fullwidth", "sse", convs / 50},
		{"japanese", "東京", convs / 10},
		{"common", "ticket", convs},
		{"none", "zzqxj", 0},
	}
	run := func(prefix string) {
		for _, q := range queries {
			b.Run(prefix+q.name, func(b *testing.B) {
				b.Logf("%s: %s", q.query, plan(b, s, sid, q.query))
				for b.Loop() {
					cs, err := s.SearchConversations(ctx, sid, q.query)
					if err != nil {
						b.Fatal(err)
					}
					if len(cs) != q.want {
						b.Fatalf("SearchConversations(%q): %d conversations, want %d", q.query, len(cs), q.want)
					}
				}
			})
		}
	}
	b.Run("list", func(b *testing.B) {
		for b.Loop() {
			if cs, err := s.Conversations(ctx, sid); err != nil || len(cs) != convs {
				b.Fatalf("Conversations: %d, %v", len(cs), err)
			}
		}
	})
	run("trgm/")
	if _, err := s.pool.Exec(ctx, "DROP INDEX IF EXISTS messages_content_trgm"); err != nil {
		b.Fatal(err)
	}
	run("no-trgm/")
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
		if strings.Contains(l, "Seq Scan") {
			used = append(used, "seq scan "+strings.Fields(l[strings.Index(l, " on ")+4:])[0])
		}
	}
	return strings.Join(used, ", ")
}

// fill gives session sid convs conversations of two finished turns each,
// written by 8 goroutines through the Store, so that the folded copies are
// the store's own.
func fill(b *testing.B, s *Store, sid string, convs int) {
	ctx := context.Background()
	english := strings.Fields("the a server client stream answer token model request response cache index query " +
		"table row column latency throughput replica database connection pool retry timeout deploy build test " +
		"function type value error result context channel goroutine handler router template browser page event")
	japanese := []string{"データベースの設定を確認します。", "サーバーを再起動してください。", "回答はストリームで届きます。",
		"京都と大阪の違いは何ですか？", "テストが失敗しました。", "ログを見てください。", "ｶﾀｶﾅも検索できます。"}
	sentence := func(r *rand.Rand, words int) string {
		var sb strings.Builder
		for i := range words {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(english[r.IntN(len(english))])
		}
		sb.WriteString(". ")
		sb.WriteString(japanese[r.IntN(len(japanese))])
		return sb.String()
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				r := rand.New(rand.NewPCG(uint64(i), 1))
				conv := &hxchat.Conversation{SessionID: sid}
				for turn := range 2 {
					q := fmt.Sprintf("About ticket HX-%05d: %s", i, sentence(r, 12))
					if i%10 == 0 && turn == 0 {
						q += " 東京で会いましょう。"
					}
					if i%50 == 0 && turn == 1 {
						q += " ＳＳＥ で流すには？"
					}
					var a strings.Builder
					for a.Len() < 700 {
						a.WriteString(sentence(r, 15))
						a.WriteByte('\n')
					}
					if i%100 == 0 && turn == 1 {
						a.WriteString("Deploy it on Kubernetes.")
					}
					user, answer := &hxchat.Message{Content: q}, &hxchat.Message{Model: "m"}
					if err := s.StartTurn(ctx, conv, user, answer); err != nil {
						b.Error(err)
						return
					}
					if err := s.FinishAnswer(ctx, &hxchat.Message{ID: answer.ID, State: hxchat.StateDone, Content: a.String()}); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
	}
	for i := range convs {
		next <- i
	}
	close(next)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}
