package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/hxchat/hxchat"
)

// The search benchmark: the same conversations and queries for every
// Store, so that their figures compare.

// SearchConversations is how many conversations FillSearch writes.
const SearchConversations = 10000

// SearchQuery is a query of BenchSearch and how many conversations it finds
// in what FillSearch wrote.
type SearchQuery struct {
	Name, Query string
	Want        int
}

// SearchQueries are the queries of BenchSearch:
//
//	rare        HX-04242     a ticket number: 1 conversation
//	word        kubernetes   a word of 100 conversations' answers
//	fullwidth   sse          3 letters, written ＳＳＥ in 200 questions
//	japanese    東京          2 characters: 1,000 conversations
//	common      ticket       every conversation
//	none        zzqxj        no conversation
var SearchQueries = []SearchQuery{
	{"rare", "HX-04242", 1},
	{"word", "kubernetes", SearchConversations / 100},
	{"fullwidth", "sse", SearchConversations / 50},
	{"japanese", "東京", SearchConversations / 10},
	{"common", "ticket", SearchConversations},
	{"none", "zzqxj", 0},
}

// FillSearch gives session sid SearchConversations conversations of two
// finished turns each (40,000 messages, about 30 MB of text, English and
// Japanese), written through s by 8 goroutines.
func FillSearch(tb testing.TB, s hxchat.Store, sid string) {
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
	var once sync.Once
	var failed error
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
					err := s.StartTurn(ctx, conv, user, answer)
					if err == nil {
						err = s.FinishAnswer(ctx, &hxchat.Message{ID: answer.ID, State: hxchat.StateDone, Content: a.String()})
					}
					if err != nil {
						once.Do(func() { failed = err })
						return
					}
				}
			}
		})
	}
	for i := range SearchConversations {
		next <- i
	}
	close(next)
	wg.Wait()
	if failed != nil {
		tb.Fatalf("FillSearch: %v", failed)
	}
}

// BenchSearch runs SearchQueries against session sid of s, filled by
// FillSearch, as sub-benchmarks named prefix+name; log, when not nil,
// says for a query what the store does (its plan).
func BenchSearch(b *testing.B, s hxchat.Store, sid, prefix string, log func(query string) string) {
	ctx := context.Background()
	for _, q := range SearchQueries {
		b.Run(prefix+q.Name, func(b *testing.B) {
			if log != nil {
				b.Logf("%s: %s", q.Query, log(q.Query))
			}
			for b.Loop() {
				cs, err := s.SearchConversations(ctx, sid, q.Query)
				if err != nil {
					b.Fatal(err)
				}
				if len(cs) != q.Want {
					b.Fatalf("SearchConversations(%q): %d conversations, want %d", q.Query, len(cs), q.Want)
				}
			}
		})
	}
}
