package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hxchat/hxchat/postgres/pgtest"
)

// TestTinyRung runs the whole harness against the real binary: a tiny rung
// of 3 browsers, 20 tokens 5 ms apart. Every answer must arrive whole, each
// token exactly once and in order, so the benchmark's figures can be trusted.
func TestTinyRung(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs hxchat")
	}
	// The floor relay is run by the same harness, so it must keep speaking
	// what the harness expects of hxchat.
	for _, c := range []struct {
		name, pkg  string
		floor, tls bool
		client     string
		replicas   int
	}{
		{"hxchat", "./cmd/hxchat", false, false, clientEpoll, 0},
		{"hxchat over TLS", "./cmd/hxchat", false, true, clientEpoll, 0},
		{"floor", "./bench/floor", true, false, clientEpoll, 0},
		{"hxchat with net/http", "./cmd/hxchat", false, false, clientNetHTTP, 0},
		{"floor with net/http", "./bench/floor", true, false, clientNetHTTP, 0},
		{"hxchat, two replicas on PostgreSQL", "./cmd/hxchat", false, false, clientEpoll, 2},
	} {
		t.Run(c.name, func(t *testing.T) { tinyRung(t, c.pkg, c.floor, c.tls, c.client, c.replicas) })
	}
}

func tinyRung(t *testing.T, pkg string, floor, useTLS bool, client string, replicas int) {
	spec := rungSpec{Streams: 3, Tokens: 20, Every: 5 * time.Millisecond, Ramp: 20 * time.Millisecond, Answers: 2}
	if _, err := raiseNofile(fdsNeeded(spec.Streams)); err != nil {
		t.Log("open files:", err)
	}
	work := t.TempDir()
	bin := filepath.Join(work, "server")
	// The build takes long on a busy host (a whole test suite compiling).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := goBuild(ctx, "..", pkg, bin); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	tlsDir := ""
	if useTLS {
		tlsDir = work
	}
	up, err := startUpstream(clk, tlsDir)
	if err != nil {
		t.Fatal(err)
	}
	defer up.close()
	h := &harness{clk: clk, up: up, bin: bin, floor: floor, work: work, delay: 20 * time.Millisecond, line: 7, progress: t.Output(), trace: true, client: client, pollers: 2}
	if replicas > 0 {
		spec.Streams = 4 // two browsers on each replica: one follows its answers there, one on the other
		pgtest.URL(t)    // skips, or in CI fails, where PostgreSQL cannot be reached
		h.replicas, h.dbURL = replicas, pgtest.BaseURL()
	}

	r := h.run(ctx, 0, spec)
	if r.Skipped != "" {
		t.Fatal("not run:", r.Skipped)
	}
	if r.Failed != 0 || r.Reconnects != 0 {
		t.Fatalf("failures %v, reconnects %d: %v", r.Failures, r.Reconnects, r.Details)
	}
	if want := int64(spec.Streams * spec.Answers * spec.Tokens); r.Tokens != want || r.Expected != want || int64(len(r.Lat)) != want {
		t.Errorf("tokens delivered %d (latencies %d), want %d", r.Tokens, len(r.Lat), want)
	}
	if len(r.Orders) != spec.Streams*spec.Answers {
		t.Fatalf("%d answers traced, want %d", len(r.Orders), spec.Streams*spec.Answers)
	}
	for i, o := range r.Orders {
		if !inOrder(o, spec.Tokens) {
			t.Errorf("answer %d: tokens came in the order %v, want 1..%d once each", i, o, spec.Tokens)
		}
	}
	if len(r.TTFT) != spec.Streams*spec.Answers {
		t.Errorf("%d first tokens timed, want %d", len(r.TTFT), spec.Streams*spec.Answers)
	}
	if r.ServerCPU <= 0 && r.PeakRSS <= 0 {
		t.Errorf("hxchat not measured: CPU %v, peak RSS %d", r.ServerCPU, r.PeakRSS)
	}
	if r.PeakRSS < r.IdleRSS || r.IdleRSS <= 0 {
		t.Errorf("RSS idle %d, peak %d", r.IdleRSS, r.PeakRSS)
	}
	if !r.StopClean {
		t.Errorf("hxchat did not exit cleanly on SIGTERM (took %v)", r.StopTime)
	}
	if lat := pct(r.Lat, 1); lat < 0 || lat > 5*time.Second {
		t.Errorf("implausible latency %v", lat)
	}
	if up.bad.Load() != 0 {
		t.Errorf("the fake upstream refused %d requests", up.bad.Load())
	}
	md := markdown(describeMachine("..", ""), settings{Command: "test", Delay: h.delay, Line: h.line, Start: time.Now()}, []*rungResult{r})
	if replicas > 0 {
		if len(r.LatRelayed) == 0 || len(r.LatOwner) == 0 {
			t.Errorf("latencies of relayed readers %d, of readers on the owner %d: want both", len(r.LatRelayed), len(r.LatOwner))
		}
		if r.PGXacts <= 0 {
			t.Errorf("PostgreSQL transactions not counted: %d", r.PGXacts)
		}
		if !strings.Contains(md, "×2 2×pg ") {
			t.Errorf("the report lacks the rung's row:\n%s", md)
		}
		return
	}
	if !strings.Contains(md, "| 3×20@5ms×2 ") {
		t.Errorf("the report lacks the rung's row:\n%s", md)
	}
}

// TestSSEReader: events are parsed as the browser parses them, whatever the
// line ends and however the bytes are split.
func TestSSEReader(t *testing.T) {
	stream := ": keepalive\r\nid: 7-1\r\ndata: a\r\ndata: b\r\rid: 7-2\nevent: done\ndata: done\n\n"
	r := newSSEReader(iotest.OneByteReader(strings.NewReader(stream)))
	ev, err := r.next()
	if err != nil || ev.name != "" || string(ev.data) != "a\nb" || r.lastID != "7-1" {
		t.Fatalf("first event %q %q id %q, %v", ev.name, ev.data, r.lastID, err)
	}
	ev, err = r.next()
	if err != nil || ev.name != "done" || string(ev.data) != "done" || r.lastID != "7-2" {
		t.Fatalf("second event %q %q id %q, %v", ev.name, ev.data, r.lastID, err)
	}
	if _, err := r.next(); err != io.EOF {
		t.Fatalf("after the end: %v", err)
	}
}

// TestAnswerDOM: fragments are swapped as the page swaps them, and tokens
// are found in their text.
func TestAnswerDOM(t *testing.T) {
	p := streamParams{Tokens: 3, Line: 2}
	tok := func(seq int) string { return strings.ReplaceAll(tokenText(p, seq), "0000000000", "0000000042") }
	d := &answerDOM{}
	var seen []int
	scan := func(c []byte) { scanTokens(c, func(seq int, stamp int64) { seen = append(seen, seq) }) }
	d.apply([]byte(`<hx-partial hx-target="#m5-body" hx-swap="innerHTML"><p>`+tok(1)+`</p>`+"\n"+`</hx-partial>`), nil, scan)
	d.apply([]byte(`<hx-partial hx-target="#m5-body" hx-swap="md p:0">`+tok(2)+`</hx-partial>`), nil, scan)
	d.apply([]byte(`<hx-partial hx-target="#m5-body" hx-swap="md">`+`<p>`+tok(3)+`</p>`+"\n"+`</hx-partial>`), nil, scan)
	if got := tokenSeqs(d.shown()); !inOrder(got, 3) || d.unknown() != 0 {
		t.Fatalf("page holds tokens %v (unknown %d): %q", got, d.unknown(), d.shown())
	}
	if want := []int{1, 2, 3}; !equal(seen, want) {
		t.Errorf("scanned %v, want %v", seen, want)
	}
	finals := 0
	final := `<hx-partial hx-target="#m5" hx-swap="outerHTML"><article id="m5"><div class="text md" id="m5-body" hx-ignore hx-preserve></div></article></hx-partial>`
	d.apply([]byte(final), func() { finals++ }, scan)
	if !inOrder(tokenSeqs(d.final), 3) || finals != 1 {
		t.Errorf("final %q (%d)", d.final, finals)
	}
	d.apply([]byte(`<hx-partial hx-target="#m5-nowhere" hx-swap="innerHTML"></hx-partial>`), nil, scan)
	if d.unknown() != 1 {
		t.Errorf("a fragment for an unknown target is not counted")
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestParseRungs: the ladder by stream counts, and custom rungs.
func TestParseRungs(t *testing.T) {
	rs, err := parseRungs("1,60, 300x200@10ms/2s, 5×10@1msx3", ladder)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1×200@10ms×5", "60×200@10ms", "300×200@10ms", "5×10@1ms×3"}
	for i, r := range rs {
		if r.String() != want[i] {
			t.Errorf("rung %d: %s, want %s", i, r, want[i])
		}
	}
	if rs[2].Ramp != 2*time.Second {
		t.Errorf("ramp %v", rs[2].Ramp)
	}
	for _, bad := range []string{"7", "x", "10x@1ms", "0x1@1ms"} {
		if _, err := parseRungs(bad, ladder); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestUpstreamScript: the chunks are OpenAI's, the stamp lands on the token.
func TestUpstreamScript(t *testing.T) {
	p := streamParams{Tokens: 3, Every: time.Millisecond, Line: 2}
	s := newScript(p, true)
	b := append([]byte(nil), s.tokens[1]...)
	putStamp(b[s.stampOff[1]:s.stampOff[1]+stampDigits], 1234567*time.Microsecond)
	want := `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":{"content":" w2.0001234567\n\n"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"
	if string(b) != want {
		t.Errorf("chunk\n%s\nwant\n%s", b, want)
	}
	got, err := parseStreamParams(p.message())
	if err != nil || got != p {
		t.Errorf("params round trip: %+v, %v", got, err)
	}
}

// TestLogSink: the ready line gives the URL; warnings and errors are
// counted by message, across writes that split lines.
func TestLogSink(t *testing.T) {
	l := &logSink{ready: make(chan string, 1)}
	for _, s := range []string{
		"time=x level=INFO msg=\"hxchat is ready\" url=http://127.0.0.1:4321 model=m\n",
		"time=x level=ERROR msg=\"checkpoint an answer\" answer=1 err=\"sqlite: busy\"\ntime=x level=ERR",
		"OR msg=\"checkpoint an answer\" answer=2\ntime=x level=WARN msg=slow\n",
	} {
		l.Write([]byte(s))
	}
	if url := <-l.ready; url != "http://127.0.0.1:4321" {
		t.Errorf("ready URL %q", url)
	}
	warns, errs, last := l.counts()
	m := l.messages()
	if warns != 1 || errs != 2 || len(last) != 3 || m[`ERROR "checkpoint an answer"`] != 2 || m["WARN slow"] != 1 {
		t.Errorf("warns %d errs %d last %q by message %v", warns, errs, last, m)
	}
}
