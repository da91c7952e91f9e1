package web

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/markdown"
)

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"gzip"}, true},
		{[]string{"GZip"}, true},
		{[]string{"x-gzip"}, true},
		{[]string{"gzip, deflate, br"}, true},
		{[]string{"br;q=1.0, gzip;q=0.8, *;q=0.1"}, true},
		{[]string{"deflate, br"}, false},
		{[]string{"identity"}, false},
		{[]string{"*"}, true},
		{[]string{"*;q=0"}, false},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; Q=0"}, false},
		{[]string{"gzip;q=0.000"}, false},
		{[]string{"gzip;q=0.001"}, true},
		{[]string{"gzip;q=0, *"}, false},     // named and refused: * does not bring it back
		{[]string{"*, gzip;q=0"}, false},     // in either order
		{[]string{"gzip;q=nonsense"}, false}, // a malformed weight accepts nothing
		{[]string{"gzip;level=9"}, true},     // other parameters do not matter
		{[]string{" deflate ,  gzip ; q=0.5 "}, true},
		{[]string{"br", "gzip"}, true},       // several header lines
		{[]string{"gzip;q=0", "gzip"}, true}, // the highest weight given wins
		{[]string{"gzipped"}, false},
	} {
		h := http.Header{}
		for _, v := range tc.header {
			h.Add("Accept-Encoding", v)
		}
		if got := acceptsGzip(h); got != tc.want {
			t.Errorf("Accept-Encoding %q: %v, want %v", tc.header, got, tc.want)
		}
	}
}

// page is an HTML page large enough to be compressed.
var page = []byte("<!DOCTYPE html><title>t</title>" + strings.Repeat("<p>A paragraph of the page, with some text.</p>\n", 100))

// serveCompressed runs handler under compress for one request with the given
// method and Accept-Encoding, and returns the response as recorded.
func serveCompressed(t *testing.T, method, accept string, handler http.HandlerFunc) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "/", nil)
	if accept != "" {
		r.Header.Set("Accept-Encoding", accept)
	}
	w := httptest.NewRecorder()
	compress(handler).ServeHTTP(w, r)
	return w
}

// gunzip decodes a gzip body.
func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", fmt.Sprint(len(page)))
	w.WriteHeader(http.StatusOK)
	w.Write(page)
}

// TestCompress: what is compressed and what is left alone.
func TestCompress(t *testing.T) {
	small := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<p>small</p>"))
	}
	inPieces := func(w http.ResponseWriter, r *http.Request) { // no Content-Type: sniffed
		for p := range bytes.Lines(page) {
			w.Write(p)
		}
	}
	typed := func(ctype string, code int, header ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(code)
			w.Write(page)
		}
	}
	for _, tc := range []struct {
		name, method, accept string
		handler              http.HandlerFunc
		status               int
		gzipped              bool
		ctype                string
		want                 []byte // the body, decoded; the page when nil
	}{
		{"large page", "GET", "gzip, deflate, br", writePage, 200, true, "text/html; charset=utf-8", nil},
		{"large page, gzip not accepted", "GET", "deflate, br", writePage, 200, false, "text/html; charset=utf-8", nil},
		{"large page, no Accept-Encoding", "GET", "", writePage, 200, false, "text/html; charset=utf-8", nil},
		{"large page, gzip;q=0", "GET", "gzip;q=0, *", writePage, 200, false, "text/html; charset=utf-8", nil},
		{"large page, HEAD", "HEAD", "gzip", writePage, 200, true, "text/html; charset=utf-8", nil},
		{"small page", "GET", "gzip", small, 200, false, "text/html; charset=utf-8", []byte("<p>small</p>")},
		{"written in small pieces, no type", "GET", "gzip", inPieces, 200, true, "text/html; charset=utf-8", nil},
		{"error page", "GET", "gzip", typed("text/html; charset=utf-8", 404), 404, true, "text/html; charset=utf-8", nil},
		{"JSON", "GET", "gzip", typed("application/json", 200), 200, true, "application/json", nil},
		{"image", "GET", "gzip", typed("image/png", 200), 200, false, "image/png", nil},
		{"event stream", "GET", "gzip", typed("text/event-stream", 200), 200, false, "text/event-stream", nil},
		{"already encoded", "GET", "gzip", typed("text/html", 200, "Content-Encoding", "br"), 200, false, "text/html", nil},
		{"with an ETag", "GET", "gzip", typed("text/html", 200, "ETag", `"x"`), 200, false, "text/html", nil},
		{"a range", "GET", "gzip", typed("text/html", 206, "Content-Range", "bytes 0-9/99"), 206, false, "text/html", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serveCompressed(t, tc.method, tc.accept, tc.handler)
			h := w.Header()
			if w.Code != tc.status || h.Get("Content-Type") != tc.ctype || h.Get("Vary") != "Accept-Encoding" {
				t.Errorf("%d, Content-Type %q, Vary %q", w.Code, h.Get("Content-Type"), h.Get("Vary"))
			}
			if got := h.Get("Content-Encoding") == "gzip"; got != tc.gzipped {
				t.Fatalf("compressed: %v, want %v (Content-Encoding %q)", got, tc.gzipped, h.Get("Content-Encoding"))
			}
			want, body := tc.want, w.Body.Bytes()
			if want == nil {
				want = page
			}
			if tc.gzipped {
				if h.Get("Content-Length") != "" {
					t.Errorf("Content-Length %q of the plain body kept", h.Get("Content-Length"))
				}
				if len(body) >= len(page)/4 {
					t.Errorf("%d bytes compressed to %d", len(page), len(body))
				}
				body = gunzip(t, body)
			}
			if !bytes.Equal(body, want) {
				t.Errorf("body of %d bytes, want %d", len(body), len(want))
			}
		})
	}
}

// TestCompressNoBody: 204, 304, an empty 200 and a redirect (its body is
// small) go out as they are, without Content-Encoding, with Vary.
func TestCompressNoBody(t *testing.T) {
	for _, tc := range []struct {
		handler http.HandlerFunc
		status  int
		body    string
	}{
		{func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, 204, ""},
		{func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotModified)
		}, 304, ""},
		{func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/c/x", http.StatusSeeOther) }, 303, "<a href=\"/c/x\">See Other</a>.\n\n"},
		{func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }, 200, ""},
		{func(w http.ResponseWriter, r *http.Request) {}, 200, ""},
	} {
		w := serveCompressed(t, "GET", "gzip", tc.handler)
		if w.Code != tc.status || w.Body.String() != tc.body || w.Header().Get("Content-Encoding") != "" || w.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("%d (want %d): Content-Encoding %q, Vary %q, body %q", w.Code, tc.status, w.Header().Get("Content-Encoding"), w.Header().Get("Vary"), w.Body)
		}
	}
}

// TestCompressHead: on a real server, HEAD of a compressed page says what
// GET sends — gzip, and its length — and sends no body.
func TestCompressHead(t *testing.T) {
	ts := httptest.NewServer(compress(http.HandlerFunc(writePage)))
	defer ts.Close()
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer c.CloseIdleConnections()
	var got [2]*http.Response
	for i, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, ts.URL, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if method == "HEAD" && len(body) != 0 || method == "GET" && int64(len(body)) != resp.ContentLength {
			t.Errorf("%s: %d bytes of body, Content-Length %d", method, len(body), resp.ContentLength)
		}
		got[i] = resp
	}
	if got[0].Header.Get("Content-Encoding") != "gzip" || got[1].Header.Get("Content-Encoding") != "gzip" ||
		got[0].ContentLength != got[1].ContentLength || got[0].ContentLength <= 0 {
		t.Errorf("GET: %q, %d bytes; HEAD: %q, %d bytes", got[0].Header.Get("Content-Encoding"), got[0].ContentLength,
			got[1].Header.Get("Content-Encoding"), got[1].ContentLength)
	}
}

// TestCompressPanic: a handler that panics after writing part of a page
// still gets the recovered error through the compressor, and the response
// is whole gzip.
func TestCompressPanic(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	h := compress(s.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(page)
		panic("boom")
	})))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if got := gunzip(t, w.Body.Bytes()); !bytes.HasPrefix(got, page) || !bytes.Contains(got, []byte("Internal Server Error")) {
		t.Errorf("decodes to %q…", got[max(0, len(got)-60):])
	}
}

// TestCompressFlush: a handler that flushes a compressed response makes what
// it wrote so far decodable at once; one that flushes before compressMin
// bytes sends them as they are.
func TestCompressFlush(t *testing.T) {
	next := make(chan struct{})
	h := compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Query().Has("small") {
			w.Write([]byte("first\n"))
		} else {
			w.Write(page)
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Error(err)
		}
		select {
		case <-next:
			w.Write([]byte("second\n"))
		case <-r.Context().Done():
		}
	}))
	ts := httptest.NewServer(h)
	defer ts.Close()
	c := &http.Client{Timeout: 10 * time.Second} // a body held back fails the test
	for _, q := range []string{"", "?small"} {
		req, _ := http.NewRequest("GET", ts.URL+q, nil)
		req.Header.Set("Accept-Encoding", "gzip") // set here, so the transport leaves the body alone
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = resp.Body
		if q == "" {
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("not compressed: %v", resp.Header)
			}
			if r, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatal(err)
			}
		} else if resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("%s: compressed: %v", q, resp.Header)
		}
		want := "first\n"
		if q == "" {
			want = string(page)
		}
		got := make([]byte, len(want))
		if n, err := io.ReadFull(r, got); err != nil || string(got) != want { // before the handler goes on
			t.Fatalf("%s: before the second write, %d of %d bytes: %v", q, n, len(want), err)
		}
		next <- struct{}{}
		rest, err := io.ReadAll(r)
		resp.Body.Close()
		if err != nil || string(rest) != "second\n" {
			t.Errorf("%s: then %q %v", q, rest, err)
		}
	}
}

// TestCompressEventStream: an event stream through compress on a real
// server is neither compressed nor held back: each event arrives on its own
// flush, before the handler writes the next; write deadlines reach the
// connection.
func TestCompressEventStream(t *testing.T) {
	next := make(chan struct{})
	h := compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		if err := rc.Flush(); err != nil {
			t.Error(err)
		}
		for i := range 3 {
			if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
				t.Errorf("SetWriteDeadline: %v", err)
			}
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
			if err := rc.Flush(); err != nil {
				t.Error(err)
			}
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	ts := httptest.NewServer(h)
	defer ts.Close()
	req, _ := http.NewRequest("GET", ts.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	c := &http.Client{Timeout: 10 * time.Second} // an event held back fails the test
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("headers %v", resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		var ev strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("event %d: %v after %q", i, err, ev.String())
			}
			ev.WriteString(line)
			if line == "\n" {
				break
			}
		}
		if want := fmt.Sprintf("id: %d\ndata: event %d\n\n", i, i); ev.String() != want {
			t.Fatalf("event %d: %q, want %q", i, ev.String(), want)
		}
		next <- struct{}{} // the handler writes the next event only now
	}
}

// BenchmarkCompress: compressing a typical page (a conversation of three
// answers with lists and highlighted code) at each gzip level, and the
// middleware at the level it uses. bytes is the size sent.
func BenchmarkCompress(b *testing.B) {
	p := typicalPage(b)
	b.Logf("page: %d bytes", len(p))
	for _, level := range []int{gzip.BestSpeed, gzip.DefaultCompression, gzip.BestCompression} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			zw, _ := gzip.NewWriterLevel(io.Discard, level)
			var out countWriter
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				out = 0
				zw.Reset(&out)
				zw.Write(p)
				zw.Close()
			}
			b.ReportMetric(float64(out), "bytes")
		})
	}
	b.Run("middleware", func(b *testing.B) {
		h := compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(p)
		}))
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", "gzip, deflate, br")
		var w *discardWriter
		b.SetBytes(int64(len(p)))
		b.ReportAllocs()
		for b.Loop() {
			w = &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, r)
		}
		b.ReportMetric(float64(w.n), "bytes")
	})
}

type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// discardWriter is a ResponseWriter that counts the body and keeps nothing.
type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// answerText is an answer as models write them: a paragraph, a list, a
// table and a code block.
const answerText = `Here is how to read a file line by line in **Go**, with the standard library only:

- open it with ` + "`os.Open`" + ` and close it when done;
- wrap it in a ` + "`bufio.Scanner`" + `;
- check ` + "`sc.Err()`" + ` after the loop.

| Way | Memory | Lines longer than 64 KiB |
|---|---|---|
| bufio.Scanner | one line | need sc.Buffer |
| bufio.Reader | one line | fine |
| os.ReadFile | the whole file | fine |

` + "```go" + `
func lines(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}
` + "```" + `

That is all it takes; for very long lines, give the scanner a larger buffer.
`

// typicalPage renders the page of a conversation of three questions and
// their answers, in a sidebar of ten conversations.
func typicalPage(tb testing.TB) []byte {
	tb.Helper()
	_, tpl, err := loadAssets()
	if err != nil {
		tb.Fatal(err)
	}
	ls, err := loadLocales()
	if err != nil {
		tb.Fatal(err)
	}
	en := ls.get("en")
	now := time.Now()
	var convs []hxchat.Conversation
	for i := range 10 {
		convs = append(convs, hxchat.Conversation{ID: hxchat.NewID(), Title: fmt.Sprintf("Reading files in Go, part %d", i), CreatedAt: now})
	}
	conv := &convs[0]
	f := &fragments{md: markdown.New()}
	var views []messageView
	for i := range 3 {
		q := hxchat.Message{ID: int64(2*i + 1), ConversationID: conv.ID, Role: hxchat.RoleUser, Content: "How do I read a file line by line in Go?", State: hxchat.StateDone, CreatedAt: now}
		a := hxchat.Message{ID: int64(2*i + 2), ConversationID: conv.ID, Role: hxchat.RoleAssistant, Content: answerText, State: hxchat.StateDone, CreatedAt: now}
		views = append(views, f.view(q, en), f.view(a, en))
	}
	base := Page{L: en, Path: "/c/" + conv.ID, Title: conv.Title, Provider: "Demo", Demo: true, Conversations: convs, CurrentID: conv.ID}
	b, err := tpl.render(ls.get("en"), "chat.html", chatPage{Page: base, Conv: conv, Messages: views})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
