package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The fake upstream: an OpenAI-compatible chat completions endpoint that
// streams numbered, time-stamped tokens.
//
// Each token's text is " w{seq}.{stamp}" where seq counts from 1 and stamp is
// the moment the token was handed to the socket, in microseconds since the
// harness's epoch, as exactly stampDigits digits. The load generator runs in
// the same process and reads the same monotonic clock, so the latency hxchat
// adds to a token is simply its receive time minus its stamp.
//
// The stream's shape (how many tokens, how far apart, after what delay) is
// read from the last user message, which the load generator writes as
// "bench tokens=200 every=10ms delay=200ms line=20" (see streamParams).
//
// Cheap by construction: the bytes of every chunk are built once per shape
// and shared; a stream copies a chunk into its own buffer, writes the stamp's
// digits into it, and writes it. Over plain HTTP/1.1 one goroutine, the
// ticker (ticker.go), writes every stream's tokens; over TLS, and with
// -upstream handler, each stream's handler writes its own, with a timer.

// stampDigits is the width of a token's stamp: microseconds since the epoch,
// enough for 2.7 hours.
const stampDigits = 10

// clock is the time base shared by the fake upstream and the load generator.
type clock struct{ epoch time.Time }

func newClock() clock { return clock{epoch: time.Now()} }

// now returns the time since the epoch (monotonic).
func (c clock) now() time.Duration { return time.Since(c.epoch) }

// streamParams is the shape of one streamed answer.
type streamParams struct {
	Tokens int           // how many tokens
	Every  time.Duration // between two tokens
	Delay  time.Duration // before the first token
	Line   int           // a paragraph break ("\n\n") after every Line tokens; 0: none
	// Code makes the answer one Go code block, a line of code every Line
	// tokens, as the answers that cost hxchat most are.
	Code bool
}

// message is what the load generator posts: the stream shape, in words the
// fake upstream reads back.
func (p streamParams) message() string {
	m := fmt.Sprintf("bench tokens=%d every=%s delay=%s line=%d", p.Tokens, p.Every, p.Delay, p.Line)
	if p.Code {
		m += " code=1"
	}
	return m
}

// parseStreamParams reads a message made by streamParams.message.
func parseStreamParams(s string) (streamParams, error) {
	var p streamParams
	f := strings.Fields(s)
	if len(f) == 0 || f[0] != "bench" {
		return p, errors.New("not a bench message")
	}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "tokens":
			p.Tokens, err = strconv.Atoi(v)
		case "every":
			p.Every, err = time.ParseDuration(v)
		case "delay":
			p.Delay, err = time.ParseDuration(v)
		case "line":
			p.Line, err = strconv.Atoi(v)
		case "code":
			p.Code = v == "1"
		}
		if err != nil {
			return p, fmt.Errorf("%s: %w", kv, err)
		}
	}
	if p.Tokens < 1 || p.Tokens > 100000 || p.Every < 0 || p.Every > time.Minute || p.Delay < 0 || p.Delay > time.Minute {
		return p, fmt.Errorf("shape out of bounds: %+v", p)
	}
	return p, nil
}

// tokenText returns the text of token seq (1-based) of a stream of shape p,
// with a stamp of zeros.
func tokenText(p streamParams, seq int) string {
	t := " w" + strconv.Itoa(seq) + "." + strings.Repeat("0", stampDigits)
	brk := "\n\n"
	if p.Code {
		brk = "\n"
		if seq == 1 {
			t = "```go\n" + t
		}
		if seq == p.Tokens {
			t += "\n```\n"
		}
	}
	if p.Line > 0 && seq%p.Line == 0 && seq < p.Tokens {
		t += brk
	}
	return t
}

// script is the precomputed wire bytes of every stream of one shape.
type script struct {
	first    []byte   // the role chunk, sent with the first token
	tokens   [][]byte // one SSE event per token, stamp zeroed
	stampOff []int    // offset of the stamp's digits in tokens[i]
	finish   []byte   // the finish chunk
	done     []byte   // "data: [DONE]"
}

type scriptKey struct {
	tokens, line int
	usage, code  bool
}

const chunkHead = `{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench","system_fingerprint":"fp_bench","choices":[`

func newScript(p streamParams, usage bool) *script {
	tail := "]}\n\n"
	if usage {
		tail = `],"usage":null}` + "\n\n"
	}
	event := func(choice string) []byte { return []byte("data: " + chunkHead + choice + tail) }
	s := &script{
		first:  event(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`),
		finish: event(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`),
		done:   []byte("data: [DONE]\n\n"),
	}
	for seq := 1; seq <= p.Tokens; seq++ {
		text, _ := json.Marshal(tokenText(p, seq))
		b := event(`{"index":0,"delta":{"content":` + string(text) + `},"logprobs":null,"finish_reason":null}`)
		off := strings.Index(string(b), "."+strings.Repeat("0", stampDigits)) + 1
		s.tokens = append(s.tokens, b)
		s.stampOff = append(s.stampOff, off)
	}
	return s
}

// putStamp writes d in microseconds as exactly stampDigits digits.
func putStamp(b []byte, d time.Duration) {
	us := max(d.Microseconds(), 0)
	for i := stampDigits - 1; i >= 0; i-- {
		b[i] = byte('0' + us%10)
		us /= 10
	}
}

// upstream is the running fake model service.
type upstream struct {
	clk    clock
	URL    string // base URL for OPENAI_BASE_URL, ending in /v1
	CAFile string // with TLS: the certificate to trust (SSL_CERT_FILE)
	srv    *http.Server
	done   chan struct{}
	tick   *ticker // writes the streams over plain HTTP/1.1 (nil over TLS)
	// HandlerLoop makes each stream's handler write its tokens itself (a
	// goroutine and a timer per stream), as before the ticker; -upstream
	// handler, for comparison. Over TLS it always does.
	HandlerLoop bool

	mu      sync.Mutex
	scripts map[scriptKey]*script

	requests atomic.Int64 // chat completion requests
	bad      atomic.Int64 // requests refused (not a bench message, not streaming)
	sent     atomic.Int64 // tokens written
	lagMax   atomic.Int64 // largest delay of a token behind its schedule, ns
	lagSum   atomic.Int64 // total of those delays, ns
	stalls   atomic.Int64 // the ticker's writes that found a socket full (and waited)
}

// startUpstream listens on a loopback port and serves until close.
//
// With tlsDir set it speaks HTTPS with HTTP/2, as Azure OpenAI and OpenAI do
// (all streams share a few connections), under a certificate of its own that
// it writes to tlsDir; otherwise plain HTTP/1.1, as local model servers
// (Ollama, vLLM, llama.cpp) do (a connection per stream).
func startUpstream(clk clock, tlsDir string) (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{clk: clk, done: make(chan struct{}), scripts: map[scriptKey]*script{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", u.chat)
	if tlsDir == "" {
		kl := newKeepListener(ln)
		u.tick = newTicker(u, kl.giveBack)
		u.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		u.URL = "http://" + ln.Addr().String() + "/v1"
		go u.srv.Serve(kl)
		return u, nil
	}
	ts := httptest.NewUnstartedServer(mux)
	ts.Listener.Close()
	ts.Listener = ln
	ts.EnableHTTP2 = true
	ts.Config.ReadHeaderTimeout, ts.Config.IdleTimeout = 10*time.Second, time.Minute
	ts.StartTLS()
	u.srv = ts.Config
	u.URL = "https://" + ln.Addr().String() + "/v1"
	u.CAFile = filepath.Join(tlsDir, "upstream-ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(u.CAFile, ca, 0o644); err != nil {
		ts.Close()
		return nil, err
	}
	return u, nil
}

func (u *upstream) close() {
	close(u.done)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if u.srv.Shutdown(ctx) != nil {
		u.srv.Close()
	}
	if u.tick != nil {
		<-u.tick.exited
	}
}

// noteLag adds a finished stream's lag behind its schedule.
func (u *upstream) noteLag(sum, most time.Duration) {
	u.lagSum.Add(int64(sum))
	for {
		old := u.lagMax.Load()
		if int64(most) <= old || u.lagMax.CompareAndSwap(old, int64(most)) {
			return
		}
	}
}

// appendUsage appends the finish chunk's usage, as OpenAI sends it when
// stream_options.include_usage asks for it: the event's end.
func appendUsage(b []byte, completion, prompt int) []byte {
	return fmt.Appendf(b, "data: %s],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n",
		chunkHead, prompt, completion, prompt+completion)
}

func (u *upstream) script(p streamParams, usage bool) *script {
	k := scriptKey{p.Tokens, p.Line, usage, p.Code}
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.scripts[k]
	if s == nil {
		s = newScript(p, usage)
		u.scripts[k] = s
	}
	return s
}

// chatRequest is the part of a chat completions request the fake reads.
type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

// lastUser returns the text of the last user message (a string, or an
// array of text parts).
func (r *chatRequest) lastUser() (text string, promptChars int) {
	for _, m := range r.Messages {
		var s string
		if json.Unmarshal(m.Content, &s) != nil {
			var parts []struct {
				Text string `json:"text"`
			}
			json.Unmarshal(m.Content, &parts)
			for _, p := range parts {
				s += p.Text
			}
		}
		promptChars += len(s)
		if m.Role == "user" {
			text = s
		}
	}
	return text, promptChars
}

// openAIError answers as OpenAI does when it refuses a request.
func openAIError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(msg)
	fmt.Fprintf(w, `{"error":{"message":%s,"type":"invalid_request_error","param":null,"code":null}}`, b)
}

func (u *upstream) chat(w http.ResponseWriter, r *http.Request) {
	u.requests.Add(1)
	var req chatRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		u.bad.Add(1)
		openAIError(w, http.StatusBadRequest, "bench upstream: "+err.Error())
		return
	}
	text, promptChars := req.lastUser()
	p, err := parseStreamParams(text)
	if err != nil || !req.Stream {
		u.bad.Add(1)
		openAIError(w, http.StatusBadRequest, fmt.Sprintf("bench upstream: want a streaming request with a bench message: %v", err))
		return
	}
	usage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	s := u.script(p, usage)
	start := u.clk.now()
	if u.tick != nil && !u.HandlerLoop {
		u.hijack(w, &tstream{s: s, usage: usage, pt: promptChars/4 + 1, start: start, p: p})
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Request-Id", "req_bench")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	ctx := r.Context()
	buf := make([]byte, 0, len(s.first)+len(s.tokens[len(s.tokens)-1])+64)
	var lagMax, lagSum time.Duration
	for i := range s.tokens {
		due := start + p.Delay + time.Duration(i)*p.Every
		if d := due - u.clk.now(); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			case <-u.done:
				return
			}
		}
		buf = buf[:0]
		if i == 0 {
			buf = append(buf, s.first...)
		}
		off := len(buf) + s.stampOff[i]
		buf = append(buf, s.tokens[i]...)
		now := u.clk.now()
		putStamp(buf[off:off+stampDigits], now)
		if _, err := w.Write(buf); err != nil || rc.Flush() != nil {
			return
		}
		u.sent.Add(1)
		lag := now - due
		lagSum += lag
		lagMax = max(lagMax, lag)
	}
	buf = append(buf[:0], s.finish...)
	if usage {
		buf = appendUsage(buf, len(s.tokens), promptChars/4+1)
	}
	buf = append(buf, s.done...)
	w.Write(buf)
	rc.Flush()
	u.noteLag(lagSum, lagMax)
}

// streamHead is the head of a streamed answer, as net/http writes it for
// the handler loop (its Date added).
const streamHead = "HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nContent-Type: text/event-stream; charset=utf-8\r\nX-Request-Id: req_bench\r\nTransfer-Encoding: chunked\r\n"

// hijack takes the connection from net/http, writes the response head and
// hands the stream to the ticker.
func (u *upstream) hijack(w http.ResponseWriter, s *tstream) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		openAIError(w, http.StatusInternalServerError, "bench upstream: "+err.Error())
		return
	}
	sc, ok := conn.(syscall.Conn)
	var raw syscall.RawConn
	if ok {
		raw, err = sc.SyscallConn()
	}
	if !ok || err != nil || rw.Reader.Buffered() > 0 {
		conn.Close() // not a socket, or a pipelined request: not expected of hxchat
		return
	}
	raw.Control(func(fd uintptr) { s.fd = int(fd) })
	s.conn = conn
	head := streamHead + "Date: " + time.Now().UTC().Format(http.TimeFormat) + "\r\n\r\n"
	if _, err := conn.Write([]byte(head)); err != nil {
		conn.Close()
		return
	}
	u.tick.add(s)
}
