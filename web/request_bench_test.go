package web_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkRequests measures the two requests every browser of the load
// harness makes, through the whole handler of a real server over a SQLite
// store: "page", GET / of a browser that has no session yet, and "post", its
// first message (POST /c as htmx sends it: the session, the turn's
// transaction, the fragments of the answer) with the model request and the
// whole answer, which the model service (served from memory) gives at once,
// three tokens. Each op is one request, its answer included; ns/op, B/op and
// allocs/op are per request.
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
	})
	b.Run("post", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
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
				b.Fatalf("POST /c: %d %.300s", w.Code, w.Body)
			}
			for runner.Running() > 0 { // the answer, given at once
				runtime.Gosched()
			}
		}
	})
}

// instantUpstream is the model service: every request gets body as its
// response body, at once.
type instantUpstream []byte

func (u instantUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	return eventStream(req, io.NopCloser(bytes.NewReader(u))), nil
}
