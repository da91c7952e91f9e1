package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat/internal/cputime"
)

// BenchmarkRequests measures the two requests every browser of the load
// harness makes, through the whole handler of a real server over a SQLite
// store: "page", GET / of a browser that has no session yet, and "post", its
// first message (POST /c as htmx sends it: the session, the turn's
// transaction, the fragments of the answer) with the model request and the
// whole answer, which the model service (served from memory) gives at once,
// three tokens; "posts" is the same from many browsers at once. Each op is
// one request, its answer included; ns/op, B/op, allocs/op and cpu-ns/op
// (the process's CPU time, every goroutine's) are per request.
//
//	go test -run '^$' -bench Requests -benchmem ./web
func BenchmarkRequests(b *testing.B) {
	up := instantUpstream(bytes.Join(pathScript(3, 0, false), nil))
	s, runner := benchServer(b, up)
	// A browser's headers, as the load harness's browsers send them.
	browser := func(req *http.Request) {
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")
		req.Header.Set("Accept-Language", "en-US,en;q=0.5")
		req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}

	b.Run("page", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cputime.Start()
		for b.Loop() {
			req := httptest.NewRequest("GET", "/", nil)
			browser(req)
			req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("GET /: %d", w.Code)
			}
		}
		cpu.Report(b)
	})
	post := func(b *testing.B) {
		req := httptest.NewRequest("POST", "/c", strings.NewReader("message=Say+something."))
		browser(req)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html, application/xhtml+xml")
		req.Header.Set("HX-Request", "true")
		req.Header.Set("HX-Current-URL", "http://example.com/")
		req.Header.Set("Origin", "http://example.com")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Errorf("POST /c: %d %.300s", w.Code, w.Body)
		}
	}
	b.Run("post", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cputime.Start()
		for b.Loop() {
			post(b)
			// The answer, given at once, ends. The wait sleeps, so that it
			// adds next to nothing to the CPU measured.
			for runner.Running() > 0 {
				time.Sleep(20 * time.Microsecond)
			}
		}
		cpu.Report(b)
	})
	// Many browsers post at once, as under load (16 goroutines per P):
	// their turns wait for the store's writer together, and their answers
	// run beside the next requests. cpu-ns/op is the CPU of a POST and its
	// answer.
	b.Run("posts", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		cpu := cputime.Start()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				post(b)
			}
		})
		for runner.Running() > 0 {
			time.Sleep(20 * time.Microsecond)
		}
		cpu.Report(b)
	})
}

// instantUpstream is the model service: every request gets body as its
// response body, at once.
type instantUpstream []byte

func (u instantUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	return eventStream(req, io.NopCloser(bytes.NewReader(u))), nil
}

// BenchmarkStreamOpen measures what it costs to open the event stream of an
// answer that is being written, as every browser does right after its POST:
// the session, the check that the reader owns the answer, the stream's
// headers, its wait for the first event. The model service holds the one
// answer open, before its first token, as browsers find their answers
// while the model thinks; each op is a GET of its stream, which the browser
// leaves once the stream is open.
//
//	go test -run '^$' -bench StreamOpen -benchmem ./web
func BenchmarkStreamOpen(b *testing.B) {
	hold := make(chan struct{})
	s, _ := benchServer(b, heldUpstream(hold))
	defer close(hold) // before the cleanups, which wait for the answer
	events, cookie := startAnswer(b, s)
	b.ReportAllocs()
	cpu := cputime.Start()
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest("GET", events, nil).WithContext(ctx)
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Accept", "text/html, text/event-stream")
		w := &leavingConn{header: http.Header{}, leave: cancel}
		s.ServeHTTP(w, req)
		if ct := w.header.Get("Content-Type"); w.flushes != 1 || ct != "text/event-stream" {
			b.Fatalf("the stream flushed %d times, as %q; want it open as an event stream, once", w.flushes, ct)
		}
	}
	cpu.Report(b)
}

// heldUpstream is a model service whose answers start and then wait, with
// no token, until hold is closed.
type heldUpstream chan struct{}

func (u heldUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	return eventStream(req, heldBody{u, req.Context()}), nil
}

type heldBody struct {
	hold heldUpstream
	ctx  context.Context
}

func (h heldBody) Read([]byte) (int, error) {
	select {
	case <-h.hold:
	case <-h.ctx.Done():
	}
	return 0, io.ErrUnexpectedEOF
}

func (heldBody) Close() error { return nil }

// leavingConn is a browser's connection of an event stream that the
// browser leaves once the stream is open (its first flush).
type leavingConn struct {
	header  http.Header
	leave   context.CancelFunc
	flushes int
}

func (w *leavingConn) Header() http.Header              { return w.header }
func (w *leavingConn) WriteHeader(int)                  {}
func (w *leavingConn) Write(p []byte) (int, error)      { return len(p), nil }
func (w *leavingConn) SetWriteDeadline(time.Time) error { return nil }
func (w *leavingConn) FlushError() error {
	w.flushes++
	w.leave()
	return nil
}
