package markdown

import (
	"bytes"
	"github.com/hxchat/hxchat/internal/cmspec"
	"github.com/hxchat/hxchat/internal/cputime"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkStreamGrow streams a long answer (about 4,000 tokens of
// paragraphs, lists, tables and code, English and Japanese) token by token
// and reports the cost per token (ns/token, allocs/token, B/token):
//
//	all:       the whole answer, from its first token to its last;
//	first500:  its first 500 tokens;
//	last500:   its last 500 tokens, the stream holding all the text before.
//
// The last 500 tokens are the first 500 again (see benchAnswer): flat cost
// per token means first500 and last500 cost the same. Each streamed part
// starts with a cold highlighter cache, as a new answer's code is new.
//
//	go test -run '^$' -bench StreamGrow -benchtime 20x ./markdown/
func BenchmarkStreamGrow(b *testing.B) {
	r := New()
	text, ends := benchAnswer(b)
	b.Logf("answer: %d bytes, %d tokens", len(text), len(ends))
	run := func(b *testing.B, from, to int) {
		// The stream as it stands after token from-1.
		base := r.Stream()
		for _, end := range ends[:from] {
			base.Grow(text[:end])
		}
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		b.ResetTimer()
		var elapsed time.Duration
		for range b.N {
			// Each answer's code is new: start from a cold highlighter
			// cache, as a new Renderer has (outside the timing).
			b.StopTimer()
			s := *base
			// The copy's buffers are its own: a step of prose reuses
			// the line it replaces.
			s.plain, s.spare = bytes.Clone(base.plain), nil
			s.r = New()
			s.r.Render("```go\nwarm := 1\n```")
			b.StartTimer()
			start := time.Now()
			for _, end := range ends[from:to] {
				s.Grow(text[:end])
			}
			elapsed += time.Since(start)
		}
		b.StopTimer()
		runtime.ReadMemStats(&ms1)
		n := float64(b.N * (to - from))
		b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/token")
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/token")
		b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, "B/token")
	}
	b.Run("all", func(b *testing.B) { run(b, 0, len(ends)) })
	b.Run("first500", func(b *testing.B) { run(b, 0, 500) })
	b.Run("last500", func(b *testing.B) { run(b, len(ends)-500, len(ends)) })
}

// BenchmarkStreamProse streams an answer of plain paragraphs, English and
// Japanese, a few words marked up, as chat answers mostly are: the steps that
// only add words to a plain line skip the parser, and each paragraph is
// final at the blank line after it.
//
//	go test -run '^$' -bench StreamProse ./markdown/
func BenchmarkStreamProse(b *testing.B) {
	paras := []string{
		"Go's net/http server runs each request on its own goroutine, so a handler that waits on a slow backend does not hold up the others.",
		"The answer streams to the browser as Server-Sent Events; each token is rendered once and copied to every reader of the stream.",
		"If the connection drops, the browser reconnects with the id of the last event it saw, and the server sends only what it missed.",
		"A **checkpoint** saves the text so far once a second, so a crash loses at most a second of it; `kill -9` is part of the tests.",
		"日本語の回答も同じように流れます。段落ごとに確定し、確定した部分は二度と描画し直しません。",
		"最後の段落は、回答が終わるまで開いたままです。そこだけを毎回描画し直します。",
	}
	var sb strings.Builder
	for i := range 4 {
		for _, p := range paras {
			if i > 0 || sb.Len() > 0 {
				sb.WriteString("\n\n")
			}
			sb.WriteString(p)
		}
	}
	text := sb.String()
	ends := tokenEnds(text, 3)
	r := New()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s := r.Stream()
		for _, end := range ends {
			s.Grow(text[:end])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ends)), "ns/token")
}

// BenchmarkStreamCorpus streams each answer of the corpus in tokens of 4
// bytes and reports, per answer, the cost of a token over its first 500
// tokens and over its last 500 (ns/token), the allocations of a token over
// the whole answer (allocs/token), the bytes of HTML
// the Ops carry for the whole answer against the final HTML (sent/final),
// and the Ops (ops/answer). Flat cost per token means first and last cost
// the same however long the open block has grown.
//
//	go test -run '^$' -bench StreamCorpus -benchtime 3x ./markdown/
func BenchmarkStreamCorpus(b *testing.B) {
	c := corpus(b)
	for _, name := range sortedNames(c) {
		text := c[name]
		if len(text) < 2000 || strings.Contains(name, " ") {
			continue // the variants (CRLF, cut short) and the short ones add nothing here
		}
		ends := cmspec.ChunkEnds(text, 4)
		n := min(500, len(ends)/2)
		run := func(b *testing.B, from, to int) {
			r := New()
			sent, ops := 0, 0
			var elapsed time.Duration
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			for range b.N {
				s := r.Stream()
				sent, ops = 0, 0
				for i, end := range ends {
					var t0 time.Time
					if i >= from && i < to {
						t0 = time.Now()
					}
					o := s.Grow(text[:end])
					if i >= from && i < to {
						elapsed += time.Since(t0)
					}
					ops += len(o)
					for _, op := range o {
						sent += len(op.HTML)
					}
				}
			}
			runtime.ReadMemStats(&ms1)
			k := float64(b.N * (to - from))
			b.ReportMetric(float64(elapsed.Nanoseconds())/k, "ns/token")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*len(ends)), "allocs/token")
			b.ReportMetric(float64(sent)/float64(len(r.Render(text))), "sent/final")
			b.ReportMetric(float64(ops), "ops/answer")
		}
		b.Run(strings.TrimSuffix(name, ".md")+"/first", func(b *testing.B) { run(b, 0, n) })
		b.Run(strings.TrimSuffix(name, ".md")+"/last", func(b *testing.B) { run(b, len(ends)-n, len(ends)) })
	}
}

// BenchmarkStreamCodeMany streams a thousand answers of the load
// benchmark's code shape (go run ./bench -rungs 1000 -code -line 6: one Go
// block of 200 tokens, a line every 6) on one Renderer, interleaved token
// by token as a server under load streams them, and reports per token the
// process's CPU time (cpu-ns/token, GC included), the allocations
// (allocs/token, B/token), and the bytes lexed per byte of code
// (lexed/code; 1 is each byte once). An op is the thousand answers, each
// on a new Renderer: its code is new.
//
//	go test -run '^$' -bench StreamCodeMany -benchtime 1x -count 5 ./markdown/
func BenchmarkStreamCodeMany(b *testing.B) {
	texts, ends, code := codeStreams(1000, 200, 6, false)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	lexed := int64(0)
	cpu := cputime.Start()
	b.ResetTimer()
	for range b.N {
		r := New()
		streamInterleaved(b, r, texts, ends, nil)
		lexed += r.hl.lexed.Load()
	}
	b.StopTimer()
	tokens := float64(b.N * len(texts) * len(ends))
	cpu.ReportPer(b, tokens, "token")
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/tokens, "ns/token")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/tokens, "allocs/token")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/tokens, "B/token")
	b.ReportMetric(float64(lexed)/float64(b.N*len(texts)*code), "lexed/code")
}
