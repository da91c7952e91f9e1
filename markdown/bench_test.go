package markdown

import (
	"runtime"
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
