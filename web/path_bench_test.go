package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/llm"
	"github.com/hxchat/hxchat/sqlite"
	"github.com/hxchat/hxchat/web"
)

// BenchmarkAnswerPath follows answers through the whole per-token path of
// hxchat: the model service's response body (OpenAI's wire format, served by
// an http.RoundTripper from memory, so that no socket and no fake server's
// own work is measured) read by the SDK's request and hxchat's decoder, the
// runner, the Markdown renderer, the hub, and one reader's SSE handler
// writing each event to a connection that discards it. Tokens come one at a
// time, as they do in practice: the next leaves the model service when the
// reader has flushed the last, so every goroutine on the path is idle when a
// token arrives. An answer is 200 tokens, like the load harness's (prose: a
// paragraph break every 20 tokens; code: one Go code block, a line every 6
// tokens); its POST is outside the measurement, its end (storing it, the
// final event) inside. Each op is one token; ns/op, B/op and allocs/op are
// per token.
//
//	go test -run '^$' -bench AnswerPath -benchmem ./web
func BenchmarkAnswerPath(b *testing.B) {
	for _, shape := range []struct {
		name string
		code bool
		line int
	}{{"prose", false, 20}, {"code", true, 6}} {
		b.Run(shape.name, func(b *testing.B) {
			benchAnswerPath(b, pathScript(200, shape.line, shape.code))
		})
	}
}

func benchAnswerPath(b *testing.B, script [][]byte) {
	up := &memUpstream{script: script, pace: make(chan struct{}, 1), quit: make(chan struct{})}
	defer close(up.quit)
	s, _ := benchServer(b, up)

	tokens := len(script) - 4 // the role, finish and usage chunks, [DONE]
	b.ReportAllocs()
	b.ResetTimer()
	for left := b.N; left > 0; left -= tokens {
		b.StopTimer()
		select {
		case <-up.pace: // the last answer's final flush
		default:
		}
		events, cookie := startAnswer(b, s)
		w := &discardConn{header: http.Header{}, flushed: up.pace}
		req := httptest.NewRequest("GET", events, nil)
		req.Header.Set("Cookie", cookie)
		b.StartTimer()
		s.ServeHTTP(w, req) // returns after the final event
		if !bytes.Contains(w.last, []byte("event: "+live.FinalEvent+"\n")) || !bytes.Contains(w.last, []byte("data: done\n")) {
			b.Fatalf("the stream ended with %q, not the final event of a done answer", w.last)
		}
		if w.frames < int64(tokens) {
			b.Fatalf("the reader wrote %d frames for %d tokens", w.frames, tokens)
		}
	}
}

// pathScript returns the events of one answer of n tokens as a model
// service sends them: the role chunk, one chunk per token, the finish and
// usage chunks, and [DONE]. A token's text is a word with its number, as the
// load harness's are (bench/upstream.go); line > 0 breaks the text after
// every line tokens: a paragraph, or with code a line of one Go code block.
func pathScript(n, line int, code bool) [][]byte {
	const head = `data: {"id":"chatcmpl-path","object":"chat.completion.chunk","created":1700000000,"model":"bench","system_fingerprint":"fp_path","choices":[`
	event := func(choice, usage string) []byte {
		return []byte(head + choice + `],"usage":` + usage + "}\n\n")
	}
	s := [][]byte{event(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`, "null")}
	for seq := 1; seq <= n; seq++ {
		t := " w" + strconv.Itoa(seq) + ".1234567"
		brk := `\n\n`
		if code {
			brk = `\n`
			if seq == 1 {
				t = "```go\\n" + t
			}
			if seq == n {
				t += "\\n```\\n"
			}
		}
		if line > 0 && seq%line == 0 && seq < n {
			t += brk
		}
		s = append(s, event(`{"index":0,"delta":{"content":"`+t+`"},"logprobs":null,"finish_reason":null}`, "null"))
	}
	return append(s,
		event(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`, "null"),
		[]byte(head+`],"usage":{"prompt_tokens":9,"completion_tokens":`+strconv.Itoa(n)+`,"total_tokens":`+strconv.Itoa(n+9)+"}}\n\n"),
		[]byte("data: [DONE]\n\n"))
}

var reEvents = regexp.MustCompile(`hx-sse:connect="([^"]+)"`)

// startAnswer posts a first message as htmx does and returns the answer's
// event stream URL and the session's cookie.
func startAnswer(b *testing.B, s http.Handler) (events, cookie string) {
	req := httptest.NewRequest("POST", "/c", strings.NewReader(url.Values{"message": {"Say something."}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("Origin", "http://example.com")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	m := reEvents.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil {
		b.Fatalf("POST /c: %d %.300s", w.Code, w.Body)
	}
	c := w.Result().Cookies()
	if len(c) == 0 {
		b.Fatal("POST /c set no session cookie")
	}
	return m[1], c[0].Name + "=" + c[0].Value
}

// memUpstream is the model service: every request gets script as its
// response body. The body gives each token's chunk only once the reader of
// the answer's stream has flushed (pace), the first one included.
type memUpstream struct {
	script [][]byte
	pace   chan struct{}
	quit   chan struct{}
}

func (u *memUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	return eventStream(req, &pacedBody{u: u, ctx: req.Context()}), nil
}

// eventStream reads req's body, as a server does, and returns a response of
// a model service's event stream whose body is body.
func eventStream(req *http.Request, body io.ReadCloser) *http.Response {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	h := http.Header{}
	h.Set("Content-Type", "text/event-stream")
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: body, ContentLength: -1, Request: req}
}

// pacedBody reads memUpstream's script, one event at a time.
type pacedBody struct {
	u   *memUpstream
	ctx context.Context
	i   int    // the next event of the script
	cur []byte // what is left of the event being read
}

func (p *pacedBody) Read(b []byte) (int, error) {
	if len(p.cur) == 0 {
		if p.i == len(p.u.script) {
			return 0, io.EOF
		}
		if p.i > 0 && p.i < len(p.u.script)-3 { // a token
			select {
			case <-p.u.pace:
			case <-p.ctx.Done():
				return 0, p.ctx.Err()
			case <-p.u.quit:
				return 0, io.ErrUnexpectedEOF
			}
		}
		p.cur = p.u.script[p.i]
		p.i++
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

func (p *pacedBody) Close() error { return nil }

// discardConn is the browser's connection of an SSE request: it keeps the
// last frame written, counts the frames, and lets the next token go at
// every flush.
type discardConn struct {
	header  http.Header
	flushed chan<- struct{}
	frames  int64
	last    []byte
}

func (w *discardConn) Header() http.Header { return w.header }
func (w *discardConn) WriteHeader(int)     {}
func (w *discardConn) Write(p []byte) (int, error) {
	w.frames++
	w.last = append(w.last[:0], p...)
	return len(p), nil
}
func (w *discardConn) SetWriteDeadline(time.Time) error { return nil }
func (w *discardConn) FlushError() error {
	select {
	case w.flushed <- struct{}{}:
	default:
	}
	return nil
}

// benchServer returns a server over a fresh SQLite store whose model
// service is the transport up, and its runner; all of it ends with b.
func benchServer(b *testing.B, up http.RoundTripper) (*web.Server, *live.Runner) {
	store, err := sqlite.Open(context.Background(), b.TempDir()+"/t.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	provider, err := llm.NewOpenAI(llm.OpenAIOptions{BaseURL: "http://model.invalid/v1", Model: "bench",
		Common: llm.Common{HTTPClient: &http.Client{Transport: up}}})
	if err != nil {
		b.Fatal(err)
	}
	hub := live.NewHub(time.Second, 64<<10)
	runner := live.NewRunner(live.RunnerOptions{Store: store, Provider: provider, Hub: hub})
	s, err := web.New(web.Options{Store: store, Runner: runner, Hub: hub, Provider: "bench", Model: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	// Cleanups run last first: the streams, the runner, then the store.
	b.Cleanup(func() { runner.Shutdown(context.Background()) })
	b.Cleanup(s.CloseStreams)
	return s, runner
}
