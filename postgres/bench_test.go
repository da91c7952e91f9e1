package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/cputime"
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
	s, sid := benchStore(b)
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
		if _, after, ok := strings.Cut(l, "Index Scan using "); ok {
			used = append(used, strings.Fields(after)[0])
		} else if _, after, ok := strings.Cut(l, "Index Scan on "); ok {
			used = append(used, strings.Fields(after)[0])
		}
		if _, after, ok := strings.Cut(l, "Seq Scan on "); ok {
			used = append(used, "seq scan "+strings.Fields(after)[0])
		}
	}
	return strings.Join(used, ", ")
}

// BenchmarkCheckpoints saves a batch of 1, 100 and 1,000 growing answers with
// Store.Checkpoints, as the runner's saver does once a second, like sqlite's
// BenchmarkCheckpoints: an op is one batch, one statement; ns/answer is the
// cost per answer saved, folding included. Answers grow by 200 bytes a
// batch, from 200 bytes to 8,000, 4 KiB on average.
//
//	go test -run '^$' -bench Checkpoints -benchmem ./postgres
func BenchmarkCheckpoints(b *testing.B) {
	s, sid := benchStore(b)
	storetest.BenchCheckpoints(b, s, sid)
}

// BenchmarkStartTurn stores a first message and its answer, as a message
// sent from the page does, and a next turn with its end, as sqlite's
// BenchmarkStartTurn does, for comparison: on PostgreSQL each statement is
// a round trip to the server, in the transaction that starts the turn.
//
//	go test -run '^$' -bench StartTurn -benchmem ./postgres
func BenchmarkStartTurn(b *testing.B) {
	s, sid := benchStore(b)
	storetest.BenchStartTurn(b, s, sid)
}

// BenchmarkFinishAnswer ends answers of 200 tokens (about 2.6 KB, the
// load benchmark's " w{seq}.{stamp}" tokens), 32 at a time, as the answers
// of the 1,000-stream rung end: an op is one FinishAnswer. pg-cpu-ns/op is
// what PostgreSQL's processes used meanwhile (all of them: the benchmark
// should have the server to itself), and max-ms the slowest FinishAnswer.
// The answer's end puts its text in the trigram index (a final message
// enters messages_content_trgm): "trgm" as the schema is, "no-trgm"
// without the index, for what it costs.
//
//	go test -run '^$' -bench FinishAnswer -benchtime 2000x ./postgres
func BenchmarkFinishAnswer(b *testing.B) {
	ctx := context.Background()
	s, sid := benchStore(b)
	var text strings.Builder
	for i := range 200 {
		fmt.Fprintf(&text, " w%d.%d", i, 1_000_000_000+i*50_123)
	}
	run := func(b *testing.B) {
		answers := make(chan *hxchat.Message, b.N)
		for range b.N {
			conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sid, Title: "A question"}
			a := &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: "m"}
			if err := s.StartTurn(ctx, conv, &hxchat.Message{Role: hxchat.RoleUser, Content: "bench"}, a); err != nil {
				b.Fatal(err)
			}
			answers <- a
		}
		close(answers)
		var mu sync.Mutex
		var slowest time.Duration
		b.ResetTimer()
		b.SetParallelism(16)
		pg := pgCPU()
		cpu := cputime.Start()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				a := <-answers
				a.State, a.Content = hxchat.StateDone, strings.ReplaceAll(text.String(), "w1", fmt.Sprintf("w1%d", a.ID))
				start := time.Now()
				if err := s.FinishAnswer(ctx, a); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(start)
				mu.Lock()
				slowest = max(slowest, d)
				mu.Unlock()
			}
		})
		cpu.Report(b)
		if t := pgCPU(); t > 0 && pg > 0 {
			b.ReportMetric(float64((t-pg).Nanoseconds())/float64(b.N), "pg-cpu-ns/op")
		}
		b.ReportMetric(float64(slowest.Microseconds())/1000, "max-ms")
	}
	b.Run("trgm", run)
	if _, err := s.pool.Exec(ctx, "DROP INDEX IF EXISTS messages_content_trgm"); err != nil {
		b.Fatal(err)
	}
	b.Run("no-trgm", run)
}

// pgCPU returns the CPU time (user and system) that the processes named
// postgres on this host have used, 0 when /proc cannot tell: the server's
// cost of what a benchmark asks of it, when it runs here.
func pgCPU() time.Duration {
	dirs, _ := os.ReadDir("/proc")
	var ticks int64
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i || s[i+1:j] != "postgres" {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// benchStore opens a store in a schema of the benchmark's own, with one
// session, closed when b ends.
func benchStore(b *testing.B) (*Store, string) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.URL(b))
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
