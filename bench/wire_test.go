package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wireEvent is one event as a test records it.
type wireEvent struct {
	name, data string
	hasData    bool
	lastID     string
}

// sseBody is an event stream with every kind of line end, comments, a
// multi-line event, ids, a nameless id-only event, and the final event.
const sseBody = ": keepalive\r\n" +
	"id: 7-1\r\ndata: <hx-partial hx-target=\"#m7-body\" hx-swap=\"md\"> w1.0000000042</hx-partial>\r\n\r\n" +
	"data: a\rdata: b\r\r" +
	"id: 7-3\ndata: first\ndata:second\n\n" +
	"id: 7-4\n\n" +
	"event: other\ndata\n\n" +
	": comment\n" +
	"id: 7-5\nevent: done\ndata: done\n\n"

// wantEvents parses body with sseReader, the net/http client's parser: the
// epoll client must see exactly the same.
func wantEvents(t *testing.T, body string) []wireEvent {
	t.Helper()
	r := newSSEReader(strings.NewReader(body))
	var out []wireEvent
	for {
		ev, err := r.next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, wireEvent{ev.name, string(ev.data), ev.hasData, r.lastID})
	}
}

// chunked encodes body in chunks of the sizes given (cycled), with line
// ends eol, and the last chunk and trailers.
func chunked(body string, sizes []int, eol string) string {
	var b strings.Builder
	for i := 0; len(body) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(body))
		fmt.Fprintf(&b, "%x%s%s%s", n, eol, body[:n], eol)
		body = body[n:]
	}
	b.WriteString("0" + eol + "X-Trailer: 1" + eol + eol)
	return b.String()
}

// feedAll feeds the pieces of a response and records what came.
func feedAll(pieces ...string) (*wireParser, []wireEvent, error) {
	p := &wireParser{}
	var got []wireEvent
	p.onEvent = func(name, data []byte, hasData bool) bool {
		got = append(got, wireEvent{string(name), string(data), hasData, string(p.LastID)})
		return false
	}
	for _, s := range pieces {
		if p.done() {
			break
		}
		p.feed([]byte(s))
	}
	var end error
	if !p.done() {
		end = p.eof()
	} else if p.ended() {
		end = io.EOF
	}
	return p, got, end
}

func sameEvents(a, b []wireEvent) bool {
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

// TestWireParser: the response is read the same however read(2) splits it:
// at every byte boundary, a byte at a time; chunks of every size, across
// reads and events; CRLF and bare LF; chunked, Content-Length, or up to EOF.
func TestWireParser(t *testing.T) {
	want := wantEvents(t, sseBody)
	if len(want) != 6 || want[5].name != "done" || want[5].lastID != "7-5" {
		t.Fatalf("reference events %+v", want)
	}
	head := func(eol, framing string) string {
		return "HTTP/1.1 200 OK" + eol + "Content-Type: text/event-stream" + eol +
			"Cache-Control: no-store" + eol + framing + eol + "Date: Thu, 03 Dec 2026 12:00:00 GMT" + eol + eol
	}
	cases := map[string]string{
		"chunked CRLF, small chunks":   head("\r\n", "Transfer-Encoding: chunked") + chunked(sseBody, []int{1, 2, 3, 5, 7}, "\r\n"),
		"chunked CRLF, mixed chunks":   head("\r\n", "transfer-encoding: chunked") + chunked(sseBody, []int{64, 1, 300, 13}, "\r\n"),
		"chunked LF":                   head("\n", "Transfer-Encoding: chunked") + chunked(sseBody, []int{17, 4}, "\n"),
		"chunked, one chunk, with ext": head("\r\n", "Transfer-Encoding: chunked") + fmt.Sprintf("%X;ext=1\r\n%s\r\n0\r\n\r\n", len(sseBody), sseBody),
		"content-length":               head("\r\n", "Content-Length: "+strconv.Itoa(len(sseBody))) + sseBody,
		"up to EOF":                    head("\r\n", "X-None: 1") + sseBody,
	}
	for name, resp := range cases {
		t.Run(name, func(t *testing.T) {
			check := func(how string, pieces ...string) {
				t.Helper()
				p, got, end := feedAll(pieces...)
				if p.Err != nil || !p.OK() || p.Status != 200 || p.CType != "text/event-stream" {
					t.Fatalf("%s: status %d %q, err %v", how, p.Status, p.CType, p.Err)
				}
				if !sameEvents(got, want) {
					t.Fatalf("%s: events\n%+v\nwant\n%+v", how, got, want)
				}
				if end != io.EOF || p.Body != int64(len(sseBody)) || string(p.LastID) != "7-5" {
					t.Fatalf("%s: end %v, body %d bytes (want %d), last id %q", how, end, p.Body, len(sseBody), p.LastID)
				}
			}
			check("whole", resp)
			for i := 1; i < len(resp); i++ {
				check(fmt.Sprintf("split at %d", i), resp[:i], resp[i:])
			}
			bytes1 := make([]string, len(resp))
			for i := range resp {
				bytes1[i] = resp[i : i+1]
			}
			check("a byte at a time", bytes1...)
		})
	}
}

// TestWireParserEnds: the final event stops the parser; a cut body, a
// refusal and a malformed chunk are told apart.
func TestWireParserEnds(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
	body := "id: 1\ndata: x\n\nid: 2\nevent: done\ndata: done\n\nid: 3\ndata: after\n\n"

	// Stopped by the caller at the final event: nothing after it.
	p := &wireParser{}
	var names []string
	p.onEvent = func(name, data []byte, hasData bool) bool {
		names = append(names, string(name))
		return string(name) == "done"
	}
	p.feed([]byte(ok + chunked(body, []int{9}, "\r\n")))
	if !p.done() || p.ended() || p.Err != nil || strings.Join(names, ",") != ",done" || string(p.LastID) != "2" {
		t.Errorf("stop at done: done %v ended %v err %v events %q id %q", p.done(), p.ended(), p.Err, names, p.LastID)
	}

	// The connection ends inside a chunk: unexpected EOF (a reconnect).
	full := ok + chunked(body, []int{30}, "\r\n")
	p, _, end := feedAll(full[:len(ok)+20])
	if end != io.ErrUnexpectedEOF || p.ended() {
		t.Errorf("cut short: %v", end)
	}

	// A refusal: the head is enough.
	p, got, _ := feedAll("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n\r\nnot found\n")
	if !p.done() || p.OK() || p.Status != 404 || len(got) != 0 {
		t.Errorf("404: status %d ok %v events %d", p.Status, p.OK(), len(got))
	}
	p, _, _ = feedAll("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>")
	if p.OK() || p.CType != "text/html" {
		t.Errorf("HTML taken for an event stream")
	}

	// Malformed.
	for _, bad := range []string{ok + "zz\r\n", ok + "3\r\nabcX", "HTTP/1.1 2000 OK\r\n\r\n", "SSH-2.0\r\n\r\n"} {
		if p, _, _ := feedAll(bad); p.Err == nil {
			t.Errorf("%q: no error", bad)
		}
	}

	// No allocation per event once the buffers have grown.
	p = &wireParser{onEvent: func(name, data []byte, hasData bool) bool { return false }}
	p.feed([]byte(ok))
	ev := []byte(chunked("id: 12\ndata: <hx-partial> w3.0000000001</hx-partial>\n\n", []int{40}, "\r\n"))
	ev = ev[:len(ev)-len("0\r\nX-Trailer: 1\r\n\r\n")]
	p.feed(ev)
	if n := testing.AllocsPerRun(100, func() { p.feed(ev[:25]); p.feed(ev[25:]) }); n != 0 {
		t.Errorf("%v allocations per event", n)
	}
}

// TestEpollReconnect: the epoll client follows an answer's stream across a
// reconnect as htmx does: same headers, the cookie, Last-Event-ID of the
// last event seen; every token once, in order; the page checked.
func TestEpollReconnect(t *testing.T) {
	clk := newClock()
	const tokens = 6
	var (
		mu   sync.Mutex
		gets []http.Header
	)
	tok := func(seq int) string {
		b := []byte(" w" + strconv.Itoa(seq) + "." + strings.Repeat("0", stampDigits))
		putStamp(b[len(b)-stampDigits:], clk.now())
		return string(b)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3cret", Path: "/"})
		io.WriteString(w, "<!doctype html><div id=log></div>")
	})
	mux.HandleFunc("POST /c", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<article id="m1" hx-sse:connect="/c/x/m/1/events" hx-sse:close="done"></article>`)
	})
	mux.HandleFunc("GET /c/x/m/1/events", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gets = append(gets, r.Header.Clone())
		n := len(gets)
		mu.Unlock()
		if _, err := r.Cookie("sid"); err != nil {
			http.Error(w, "no session", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		from, to := 1, 3
		if n > 1 {
			if r.Header.Get("Last-Event-ID") != "3" {
				http.Error(w, "bad Last-Event-ID", http.StatusBadRequest)
				return
			}
			from, to = 4, tokens
		}
		text := ""
		for seq := from; seq <= to; seq++ {
			t := tok(seq)
			text += t
			fmt.Fprintf(w, "id: %d\ndata: <hx-partial hx-target=\"#m1-body\" hx-swap=\"md\">%s</hx-partial>\n\n", seq, t)
			rc.Flush()
			time.Sleep(time.Millisecond)
		}
		if n == 1 {
			return // the stream ends early: the browser must come back
		}
		all := ""
		for seq := 1; seq <= tokens; seq++ {
			all += " w" + strconv.Itoa(seq) + "." + strings.Repeat("0", stampDigits)
		}
		fmt.Fprintf(w, "id: 7\ndata: <hx-partial hx-target=\"#m1\" hx-swap=\"outerHTML\"><article id=\"m1\"><div id=\"m1-body\">%s</div></article></hx-partial>\n\n", all)
		fmt.Fprintf(w, "id: 8\nevent: done\ndata: done\n\n")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	g := &loadGen{clk: clk, params: streamParams{Tokens: tokens}, tr: newTransport(4), client: clientEpoll, trace: true}
	g.perSecond = make([]atomic.Int64, 10)
	if err := g.setReplicas(srv.URL); err != nil {
		t.Fatal(err)
	}
	if err := g.startPollers(1); err != nil {
		t.Fatal(err)
	}
	defer g.stopPollers()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b := g.newBrowser(0)
	if err := b.page(ctx); err != nil {
		t.Fatal(err)
	}
	res := b.answer(ctx)
	if res.fail != "" || res.reconnects != 1 || !inOrder(res.order, tokens) || len(res.lat) != tokens {
		t.Fatalf("fail %q (%s), reconnects %d, order %v", res.fail, res.detail, res.reconnects, res.order)
	}
	mu.Lock() // the server's handler wrote gets
	defer mu.Unlock()
	if len(gets) != 2 {
		t.Fatalf("%d requests of the stream", len(gets))
	}
	for i, h := range gets {
		if h.Get("HX-Request") != "true" || h.Get("Accept") != "text/html, text/event-stream" || h.Get("HX-Current-URL") != srv.URL+"/" || h.Get("User-Agent") != "hxchat-bench" {
			t.Errorf("request %d: headers %v", i+1, h)
		}
	}
	if id := gets[0].Get("Last-Event-ID"); id != "" {
		t.Errorf("first request with Last-Event-ID %q", id)
	}
	if id := gets[1].Get("Last-Event-ID"); id != "3" {
		t.Errorf("reconnect with Last-Event-ID %q, want 3", id)
	}
	if res.wire <= 0 {
		t.Errorf("wire bytes %d", res.wire)
	}
}

// TestTicker: the ticker writes exactly the bytes the per-stream handler
// writes (stamps aside), on schedule, for many streams at once, and hands
// the connection back for the next request.
func TestTicker(t *testing.T) {
	clk := newClock()
	up, err := startUpstream(clk, "")
	if err != nil {
		t.Fatal(err)
	}
	defer up.close()
	client := &http.Client{Transport: newTransport(64)}

	// stream asks for an answer and returns its body with the stamps zeroed,
	// the stamps, and whether the connection was reused.
	stream := func(p streamParams, usage bool) (string, []time.Duration, bool, error) {
		reused := false
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		ctx := httptrace.WithClientTrace(context.Background(), trace)
		opts := ""
		if usage {
			opts = `"stream_options":{"include_usage":true},`
		}
		body := `{"model":"bench","stream":true,` + opts + `"messages":[{"role":"user","content":"` + p.message() + `"}]}`
		req, _ := http.NewRequestWithContext(ctx, "POST", up.URL+"/chat/completions", strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			return "", nil, false, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
			return "", nil, false, fmt.Errorf("status %s, type %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		var out strings.Builder
		var stamps []time.Duration
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if k := strings.Index(line, `"content":" w`); k >= 0 {
				rest := line[k+len(`"content":" w`):]
				dot := strings.IndexByte(rest, '.')
				us, _ := strconv.ParseInt(rest[dot+1:dot+1+stampDigits], 10, 64)
				stamps = append(stamps, time.Duration(us)*time.Microsecond)
				line = line[:k+len(`"content":" w`)+dot+1] + strings.Repeat("0", stampDigits) + rest[dot+1+stampDigits:]
			}
			out.WriteString(line + "\n")
		}
		return out.String(), stamps, reused, sc.Err()
	}

	// The same bytes as the handler's own loop.
	p := streamParams{Tokens: 5, Every: 2 * time.Millisecond, Delay: time.Millisecond, Line: 2}
	up.HandlerLoop = true
	want, _, _, err := stream(p, true)
	if err != nil {
		t.Fatal(err)
	}
	up.HandlerLoop = false
	got, _, _, err := stream(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || !strings.HasSuffix(got, "data: [DONE]\n\n") || !strings.Contains(got, `"completion_tokens":5`) {
		t.Fatalf("ticker's stream\n%s\nhandler's\n%s", got, want)
	}

	// Many streams of different shapes at once: every token, on schedule,
	// stamps in order; each connection back for the next request.
	var wg sync.WaitGroup
	var notReused atomic.Int64
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			p := streamParams{Tokens: 5 + i%7, Every: time.Duration(1+i%3) * time.Millisecond, Delay: time.Duration(i%4) * time.Millisecond}
			for n := range 2 {
				t0 := clk.now()
				_, stamps, reused, err := stream(p, i%2 == 0)
				switch {
				case err != nil:
					errs <- err
				case len(stamps) != p.Tokens:
					errs <- fmt.Errorf("stream %d: %d tokens, want %d", i, len(stamps), p.Tokens)
				case stamps[len(stamps)-1] < t0+p.Delay+time.Duration(p.Tokens-1)*p.Every-time.Millisecond:
					errs <- fmt.Errorf("stream %d: last token at %v, before its time %v", i, stamps[len(stamps)-1]-t0, p.Delay+time.Duration(p.Tokens-1)*p.Every)
				case n == 1 && !reused:
					notReused.Add(1)
				}
				for k := 1; k < len(stamps); k++ {
					if stamps[k] < stamps[k-1] {
						errs <- fmt.Errorf("stream %d: stamps out of order %v", i, stamps)
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The connections go back for the next request. On a loaded host a
	// second request now and then dials before its connection is back in
	// the client's pool; most must find it.
	if n := notReused.Load(); n > 4 {
		t.Errorf("%d of 40 second requests did not reuse a connection", n)
	}
	if up.bad.Load() != 0 {
		t.Errorf("%d requests refused", up.bad.Load())
	}

	// A reader that does not read for a while: the ticker finds the socket
	// full, waits for it (counted), and the stream still arrives whole.
	body := `{"model":"bench","stream":true,"messages":[{"role":"user","content":"` + streamParams{Tokens: 20000}.message() + `"}]}`
	resp, err := client.Post(up.URL+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(300 * time.Millisecond)
	sc := bufio.NewScanner(resp.Body)
	tokens := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"content":" w`) {
			tokens++
		}
	}
	if tokens != 20000 || up.stalls.Load() == 0 {
		t.Errorf("a stalled reader got %d tokens of 20000; the ticker waited %d times", tokens, up.stalls.Load())
	}
}

// TestStreamHeap: the ticker's heap gives the streams in the order of their
// next token, as their times change.
func TestStreamHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h streamHeap
	for range 500 {
		h.push(&tstream{due: time.Duration(rng.IntN(1000))})
	}
	last := time.Duration(-1)
	for step := 0; len(h) > 0; step++ {
		first := h[0]
		for _, s := range h {
			if s.due < first.due {
				t.Fatalf("step %d: %v first, %v in the heap", step, first.due, s.due)
			}
		}
		if first.due < last {
			t.Fatalf("step %d: %v after %v", step, first.due, last)
		}
		last = first.due
		if step%3 == 0 {
			first.due += time.Duration(rng.IntN(300)) // its next token
			h.down()
		} else {
			h.pop()
		}
	}
}

// BenchmarkWireEvent: the epoll client's work for one token in user space,
// once its bytes are read: the chunk, the event, and the scan of its
// fragment (a paragraph of 10 tokens, as hxchat re-sends the open one) for
// new tokens.
func BenchmarkWireEvent(b *testing.B) {
	para := ""
	for seq := 1; seq <= 10; seq++ {
		para += fmt.Sprintf(" w%d.%010d", seq, seq*1000)
	}
	ev := "id: 5-17\ndata: <hx-partial hx-target=\"#m5-tail\" hx-swap=\"innerHTML\"><p>" + para + "</p>\ndata: </hx-partial>\n\n"
	chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", len(ev), ev))
	p := &wireParser{}
	p.feed([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"))
	var text []byte
	found := 0
	scan := func(c []byte) { scanTokens(c, func(int, int64) { found++ }) }
	p.onEvent = func(name, data []byte, hasData bool) bool {
		text = scanPartials(data, text, scan)
		return false
	}
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		p.feed(chunk)
	}
	if found == 0 {
		b.Fatal("no tokens found")
	}
}
