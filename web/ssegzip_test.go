package web

import (
	"bytes"
	"compress/gzip"
	"os"
	"runtime"
	"testing"

	"github.com/hxchat/hxchat/internal/cmspec"
	"github.com/hxchat/hxchat/live"
)

// BenchmarkStreamGzip measures whether compressing an answer's event stream
// would pay (it does not, so streams go out as they are: see the README): a code answer's events (long-go-code.md in 4-byte tokens)
// through one gzip stream flushed after every event, as an SSE response
// would need, against the events as they are. It reports the bytes on the
// wire with and without (wire/answer, gzip/answer), the CPU of compressing
// a token (ns/token), and the memory a compressing stream holds (B/stream,
// measured as the heap growth of 100 idle gzip writers).
//
//	go test -run '^$' -bench StreamGzip ./web
func BenchmarkStreamGzip(b *testing.B) {
	text, err := os.ReadFile("../markdown/testdata/corpus/long-go-code.md")
	if err != nil {
		b.Fatal(err)
	}
	ends := cmspec.ChunkEnds(string(text), 4)
	var events [][]byte
	for i, data := range AnswerSteps(7, string(text), ends) {
		if len(data) > 0 {
			events = append(events, live.AppendEvent(nil, "", live.EventID(7, int64(i+1)), data))
		}
	}
	plain := 0
	for _, e := range events {
		plain += len(e)
	}
	for _, level := range []int{gzip.HuffmanOnly, gzip.BestSpeed, 4, gzip.DefaultCompression} {
		name := map[int]string{gzip.HuffmanOnly: "HuffmanOnly", gzip.BestSpeed: "BestSpeed", 4: "Level4", gzip.DefaultCompression: "Default"}[level]
		b.Run(name, func(b *testing.B) {
			var out bytes.Buffer
			for range b.N {
				out.Reset()
				zw, _ := gzip.NewWriterLevel(&out, level)
				for _, e := range events {
					zw.Write(e)
					zw.Flush() // every event must reach the browser at once
				}
				zw.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ends)), "ns/token")
			b.ReportMetric(float64(plain), "wire/answer")
			b.ReportMetric(float64(out.Len()), "gzip/answer")
			// What a stream that compresses holds while it is open.
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			ws := make([]*gzip.Writer, 100)
			for i := range ws {
				ws[i], _ = gzip.NewWriterLevel(&bytes.Buffer{}, level)
				ws[i].Write(events[0])
				ws[i].Flush()
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/100, "B/stream")
			runtime.KeepAlive(ws)
		})
	}
}
