package live_test

import (
	"context"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
)

// The benchmarks of the per-token path: what happens in this package between
// a token arriving from the model and its SSE frame reaching every reader.
// Each op is one token.
//
//	go test -run '^$' -bench . -benchmem ./live

// benchMsg is the id of the benchmarks' answer: a realistic, multi-digit one.
const benchMsg = 48213

// benchMaxLog is the replay log of a stream, as cmd/hxchat configures it.
const benchMaxLog = 64 << 10

// tokenData returns the data of a typical token event, as the web renderer
// makes it (an htmx partial swapping the rendered tail of the answer into the
// page; the HTML is what the markdown package renders): small, the tail of a
// growing paragraph (about 200 bytes, 2 lines); large, the tail of a growing
// highlighted code block (about 4 KiB, one line per line of code). (Rendering
// it here would start the highlighter's regexp clock goroutine, which
// goleak would report.)
func tokenData(large bool) []byte {
	html := "<p>Goroutines are cheap: a few kilobytes of stack each, so a server can run <strong>one per request</strong>.</p>\n"
	if large {
		var b strings.Builder
		b.WriteString(`<div class="code"><div class="code-head"><span class="code-lang">go</span><button type="button" class="copy" data-copy>Copy</button></div><pre class="chroma"><code>`)
		b.WriteString(`<span class="kd">func</span> <span class="p">(</span><span class="nx">s</span> <span class="o">*</span><span class="nx">Stream</span><span class="p">)</span> <span class="nf">Publish</span><span class="p">()</span> <span class="p">{</span>` + "\n")
		for i := 0; b.Len() < 4000; i++ {
			fmt.Fprintf(&b, "\t"+`<span class="k">if</span> <span class="nx">s</span><span class="p">.</span><span class="nx">log</span><span class="p">[</span><span class="mi">%d</span><span class="p">]</span> <span class="o">==</span> <span class="kc">nil</span> <span class="p">{</span> <span class="c1">// line %d</span>`+"\n", i, i)
			b.WriteString("\t\t" + `<span class="k">return</span>` + "\n\t" + `<span class="p">}</span>` + "\n")
		}
		b.WriteString(`</code></pre></div>` + "\n")
		html = b.String()
	}
	return fmt.Appendf(nil, `<hx-partial hx-target="#m%d-body" hx-swap="md p:0">%s</hx-partial>`, benchMsg, html)
}

// logData reports the size of the benchmark's data once per benchmark.
func logData(b *testing.B, data []byte) {
	b.Logf("token data: %d bytes, %d lines", len(data), strings.Count(string(data), "\n")+1)
}

// BenchmarkAppendEvent encodes one token's SSE frame. reused: into a buffer
// the caller reuses (should not allocate); fresh: into a nil slice, as the
// runner does for every token (the frame is kept in the stream's log).
func BenchmarkAppendEvent(b *testing.B) {
	id := live.EventID(benchMsg, 1234)
	for _, size := range []struct {
		name  string
		large bool
	}{{"200B", false}, {"4KiB", true}} {
		data := tokenData(size.large)
		b.Run(size.name+"/reused", func(b *testing.B) {
			logData(b, data)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			buf := live.AppendEvent(nil, "", id, data)
			for b.Loop() {
				buf = live.AppendEvent(buf[:0], "", id, data)
			}
		})
		b.Run(size.name+"/fresh", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				live.AppendEvent(nil, "", id, data)
			}
		})
	}
}

// BenchmarkEventID makes the id of one event, as the stream does for every
// event it appends.
func BenchmarkEventID(b *testing.B) {
	b.ReportAllocs()
	seq := int64(1000)
	for b.Loop() {
		seq++
		live.EventID(benchMsg, seq)
	}
}

// BenchmarkPublish appends one token to a stream that nobody reads, the way
// the runner does (the frame built by AppendEvent from the event's id): the
// publisher's own cost per token, without any reader's.
func BenchmarkPublish(b *testing.B) {
	for _, size := range []struct {
		name  string
		large bool
	}{{"200B", false}, {"4KiB", true}} {
		data := tokenData(size.large)
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			s := live.NewHub(0, benchMaxLog).Open(benchMsg)
			defer s.Close()
			for b.Loop() {
				s.Publish("", 0, func(id string) []byte { return live.AppendEvent(nil, "", id, data) })
			}
		})
	}
}

// countWriter stands for the ResponseWriter of an SSE request: it keeps
// nothing, it counts.
type countWriter struct{ frames, bytes int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.frames++
	w.bytes += int64(len(p))
	return len(p), nil
}

// follow reads s from pos to its end as web's answerEvents does: Follow into
// a reused slice, write the frames, wait for the next change, a keepalive tick,
// the end of the request (its own context) or the server's shutdown (quit,
// shared by every reader). got is called with the number of frames of each
// read that returned any.
func follow(tb testing.TB, s *live.Stream, pos int64, w io.Writer, quit <-chan struct{}, got func(n int)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	var buf [][]byte
	changed := make(chan struct{}, 1)
	for {
		frames, last, ended, ok := s.Follow(pos, buf, changed)
		if !ok {
			tb.Errorf("Follow(%d) not ok: the reader fell behind the log", pos)
			return
		}
		buf = frames
		for _, f := range frames {
			if _, err := w.Write(f); err != nil {
				return
			}
		}
		if len(frames) > 0 {
			got(len(frames))
		}
		pos = last
		if ended {
			return
		}
		select {
		case <-changed:
		case <-keepalive.C:
			w.Write([]byte(": keepalive\n\n"))
		case <-ctx.Done():
			return
		case <-quit:
			return
		}
	}
}

// BenchmarkFanout publishes one token to a stream followed by 1 and by 100
// readers, each reading as web's answerEvents does (see follow), and waits
// until every reader has written it: the way tokens come in practice, each a
// few milliseconds after the last, every reader idle when it arrives. An op
// is one token, from Publish until the last reader has written its frame;
// ns/event is the cost per frame delivered (ns/op ÷ readers).
func BenchmarkFanout(b *testing.B) {
	for _, size := range []struct {
		name  string
		large bool
	}{{"200B", false}, {"4KiB", true}} {
		data := tokenData(size.large)
		for _, readers := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/readers=%d", size.name, readers), func(b *testing.B) {
				benchFanout(b, data, readers)
			})
		}
	}
}

func benchFanout(b *testing.B, data []byte, readers int) {
	s := live.NewHub(0, benchMaxLog).Open(benchMsg)
	frame := func(id string) []byte { return live.AppendEvent(nil, "", id, data) }

	var pending atomic.Int64       // frames of the current token not yet written
	written := make(chan struct{}) // the last reader wrote the current token
	quit := make(chan struct{})
	defer close(quit)
	got := func(n int) {
		if pending.Add(-int64(n)) == 0 {
			written <- struct{}{}
		}
	}
	// publish publishes one token and waits until every reader wrote it.
	publish := func() {
		pending.Store(int64(readers))
		s.Publish("", 0, frame)
		<-written
	}

	var wg sync.WaitGroup
	ws := make([]countWriter, readers)
	for i := range readers {
		wg.Go(func() { follow(b, s, 0, &ws[i], quit, got) })
	}
	publish() // every reader is running and has read once

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		publish()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*readers), "ns/event")

	s.Close(func(id string) []byte { return live.AppendEvent(nil, live.FinalEvent, id, []byte("done")) })
	wg.Wait()
	for i, w := range ws {
		if w.frames != int64(b.N)+2 || w.bytes != ws[0].bytes {
			b.Fatalf("reader %d wrote %d frames, %d bytes; want %d, %d", i, w.frames, w.bytes, b.N+2, ws[0].bytes)
		}
	}
}

// tokens is a Provider that streams n tokens of a few characters, as fast as
// it is asked, and stops.
type tokens struct{ n int }

func (p tokens) Name() string  { return "tokens" }
func (p tokens) Model() string { return "tokens-1" }
func (p tokens) Stream(ctx context.Context, _ hxchat.ChatRequest) iter.Seq2[hxchat.Delta, error] {
	return func(yield func(hxchat.Delta, error) bool) {
		words := [...]string{" the", " stream", " of", " an", " answer", ",", " token", " by", " token", "."}
		for i := range p.n {
			if !yield(hxchat.Delta{Text: words[i%len(words)]}, nil) {
				return
			}
		}
		yield(hxchat.Delta{FinishReason: "stop", Usage: &hxchat.Usage{CompletionTokens: int64(p.n)}}, nil)
	}
}

// fixedAnswer renders every token as the same data, as if rendering cost
// nothing (markdown's BenchmarkStreamGrow measures that part).
type fixedAnswer struct{ data []byte }

func (a fixedAnswer) Grow(string) ([]byte, int)           { return a.data, 0 }
func (a fixedAnswer) Final(*hxchat.Message, error) []byte { return []byte("final") }
func (a fixedAnswer) Wait(hxchat.Retry) []byte            { return nil }
func (a fixedAnswer) Finish(string) []byte                { return nil }

// nopStore is a Store whose writes of a running answer cost nothing; any
// other method panics. It keeps the last answer finished.
type nopStore struct {
	hxchat.Store
	mu       sync.Mutex
	finished hxchat.Message
}

func (s *nopStore) Checkpoints(context.Context, []hxchat.Partial) error { return nil }
func (s *nopStore) FinishAnswer(_ context.Context, m *hxchat.Message) error {
	s.mu.Lock()
	s.finished = *m
	s.mu.Unlock()
	return nil
}

// BenchmarkRunnerToken runs answers of 1,000 tokens (the last one shorter),
// b.N tokens in all, through a Runner, with a provider and a renderer that
// cost nothing and no reader: the runner's own cost per token (collect the
// text, render, build the frame, publish, record the text for the checkpoint
// saver), with each answer's start and end amortised over its tokens.
func BenchmarkRunnerToken(b *testing.B) {
	const perAnswer = 1000
	data := tokenData(false)
	hub := live.NewHub(0, benchMaxLog)
	store := &nopStore{}
	b.ReportAllocs()
	for i, left := 0, b.N; left > 0; i, left = i+1, left-perAnswer {
		n := min(left, perAnswer)
		// One runner per answer: its Shutdown waits for the answer's end.
		r := live.NewRunner(live.RunnerOptions{Store: store, Provider: tokens{n: n}, Hub: hub})
		answer := &hxchat.Message{ID: benchMsg + int64(i), Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
		if err := r.Start(answer, "owner", hxchat.ChatRequest{}, fixedAnswer{data}); err != nil {
			b.Fatal(err)
		}
		if err := r.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		if m := store.finished; m.ID != answer.ID || m.State != hxchat.StateDone || m.Usage.CompletionTokens != int64(n) {
			b.Fatalf("answer %d finished as %d, %s, %d tokens; want done, %d tokens", answer.ID, m.ID, m.State, m.Usage.CompletionTokens, n)
		}
	}
}

// TestTokenAllocs keeps the per-token encoding cheap: a frame made from nil is
// one allocation whatever its line breaks, into a reused buffer none, and an
// event id one.
func TestTokenAllocs(t *testing.T) {
	id := live.EventID(benchMsg, 1234)
	for name, data := range map[string][]byte{
		"200B": tokenData(false),
		"4KiB": tokenData(true),
		"CRLF": []byte("a\r\nb\rc\n\r\n\n\r"),
	} {
		if n := testing.AllocsPerRun(100, func() { live.AppendEvent(nil, live.FinalEvent, id, data) }); n != 1 {
			t.Errorf("AppendEvent(nil, %s): %v allocations, want 1", name, n)
		}
		buf := live.AppendEvent(nil, "", id, data)
		if n := testing.AllocsPerRun(100, func() { buf = live.AppendEvent(buf[:0], "", id, data) }); n != 0 {
			t.Errorf("AppendEvent(reused, %s): %v allocations, want 0", name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { live.EventID(benchMsg, 123456) }); n != 1 {
		t.Errorf("EventID: %v allocations, want 1", n)
	}
}
