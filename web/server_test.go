package web_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/llm"
	"github.com/hxchat/hxchat/sqlite"
	"github.com/hxchat/hxchat/web"
)

// newServer runs the web layer over a real store and runner, with the demo
// model writing rate tokens per second, and options of the test's own.
func newServer(t testing.TB, rate float64, keepalive time.Duration, opts ...func(*web.Options)) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	startServer(t, ts, rate, keepalive, opts...)
	return ts
}

// startServer is newServer on ts, not started yet (so that its address is
// known to opts).
func startServer(t testing.TB, ts *httptest.Server, rate float64, keepalive time.Duration, opts ...func(*web.Options)) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), t.TempDir()+"/t.db")
	if err != nil {
		t.Fatal(err)
	}
	hub := live.NewHub(time.Minute, 1<<20)
	runner := live.NewRunner(live.RunnerOptions{Store: store, Provider: llm.NewDemo(llm.DemoOptions{TokensPerSecond: rate}), Hub: hub})
	o := web.Options{Store: store, Runner: runner, Hub: hub, Provider: "Demo", Demo: true, MaxMessageBytes: 1024, Keepalive: keepalive}
	for _, opt := range opts {
		opt(&o)
	}
	s, err := web.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = s
	ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		runner.Shutdown(ctx) // demo answers still running are cut short
		s.CloseStreams()
		ts.Close()
		store.Close()
	})
}

func client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func postForm(t *testing.T, c *http.Client, ts *httptest.Server, path string, form url.Values, origin string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return do(t, c, req)
}

// get sends an htmx GET with the given header pairs.
func get(t *testing.T, c *http.Client, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, c, req)
}

// do sends req as htmx does and returns the response with its body read.
func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	req.Header.Set("HX-Request", "true")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSecurityHeaders(t *testing.T) {
	ts := newServer(t, 0, 0)
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP allows unsafe code: %q", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" ||
		!strings.Contains(resp.Header.Get("Permissions-Policy"), "camera=()") {
		t.Error("nosniff, Referrer-Policy or Permissions-Policy missing")
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
	tls := httptest.NewTLSServer(ts.Config.Handler)
	defer tls.Close()
	resp, err = tls.Client().Get(tls.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Error("no HSTS over TLS")
	}
}

// TestCrossOrigin: a form posted from another site is refused; htmx's
// same-origin request passes.
func TestCrossOrigin(t *testing.T) {
	ts := newServer(t, 0, 0)
	form := url.Values{"message": {"hi"}}
	if resp, _ := postForm(t, client(), ts, "/c", form, "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d, want 403", resp.StatusCode)
	}
	if resp, _ := postForm(t, client(), ts, "/c", form, ts.URL); resp.StatusCode != http.StatusOK {
		t.Errorf("same-origin POST: %d, want 200", resp.StatusCode)
	}
}

func TestStatic(t *testing.T) {
	ts := newServer(t, 0, 0)
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	urls := regexp.MustCompile(`(?:src|href)="(/static/[0-9a-f]{12}/[^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(urls) < 4 {
		t.Fatalf("page links %d static files, want htmx, its SSE extension, app.js, app.css", len(urls))
	}
	for _, u := range urls {
		resp, err := http.Get(ts.URL + u[1])
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %d %q", u[1], resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	for path, want := range map[string]int{"/static/000000000000/app.js": 200, "/static/000000000000/nope.js": 404} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || want == 200 && resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
}

// TestMessageRefused: a message that cannot be sent gets a clear error in
// the page's alert area, and nothing is stored.
func TestMessageRefused(t *testing.T) {
	ts := newServer(t, 0, 0)
	c := client()
	for _, tc := range []struct {
		name, text string
		status     int
		says       string
	}{
		{"empty", "", 400, "Type a message first."},
		{"whitespace", " \n\t\u3000", 400, "Type a message first."},
		{"too long", strings.Repeat("あ", 400), 413, "too long"},
		{"invalid utf-8", "bad \xff byte", 400, "not text"},
		{"nul", "nul \x00 byte", 400, "not text"},
	} {
		resp, body := postForm(t, c, ts, "/c", url.Values{"message": {tc.text}}, ts.URL)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.says) || resp.Header.Get("HX-Retarget") != "#alert" {
			t.Errorf("%s: %d %q (retarget %q)", tc.name, resp.StatusCode, body, resp.Header.Get("HX-Retarget"))
		}
	}
	resp, err := c.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "No conversations yet.") {
		t.Error("a refused message created a conversation")
	}
}

// TestKeepalive: a stream that waits for the model sends keepalive comments,
// so proxies do not close it.
func TestKeepalive(t *testing.T) {
	ts := newServer(t, 0.5, 20*time.Millisecond) // a token every 2 s
	c := client()
	_, body := postForm(t, c, ts, "/c", url.Values{"message": {"hi"}}, ts.URL)
	m := regexp.MustCompile(`hx-sse:connect="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no stream in %s", body)
	}
	resp, err := c.Get(ts.URL + m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("X-Accel-Buffering") != "no" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("headers %v", resp.Header)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == ": keepalive" {
			return
		}
	}
	t.Error("no keepalive comment")
}

// TestSessionCookie: the session cookie is HttpOnly and SameSite=Lax, and
// Secure when the request came over TLS.
func TestSessionCookie(t *testing.T) {
	for _, tls := range []bool{false, true} {
		ts := newServer(t, 0, 0)
		c := ts.Client()
		if tls {
			ts = httptest.NewUnstartedServer(ts.Config.Handler)
			ts.StartTLS()
			t.Cleanup(ts.Close)
			c = ts.Client()
		}
		resp, _ := postForm(t, c, ts, "/c", url.Values{"message": {"hi"}}, ts.URL)
		var got *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "hxchat_session" {
				got = ck
			}
		}
		if got == nil || !got.HttpOnly || got.SameSite != http.SameSiteLaxMode || got.Secure != tls || len(got.Value) != 26 {
			t.Errorf("TLS %v: cookie %+v", tls, got)
		}
	}
}

// FuzzMessageForm: no posted body makes the message form handler fail
// other than with a clear 4xx, and what it accepts is text: valid UTF-8,
// no NUL, not blank, within the limit.
func FuzzMessageForm(f *testing.F) {
	for _, s := range []string{"message=hi", "message=", "message=%FF", "message=%00", "message=%E3%81%82", "message=a&message=b", "%", "message=" + strings.Repeat("x", 2000), "a=b;c=d", "message=%0D%0A"} {
		f.Add(s)
	}
	ts := newServer(f, 0, 0)
	c := client()
	f.Fuzz(func(t *testing.T, body string) {
		req, _ := http.NewRequest("POST", ts.URL+"/c", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 400 && resp.StatusCode != 413 && resp.StatusCode != 409 {
			t.Fatalf("%q: status %d", body, resp.StatusCode)
		}
	})
}

// newServerWith is newServer with options of the test's own.
func newServerWith(t testing.TB, opt func(*web.Options)) *httptest.Server {
	t.Helper()
	store, err := sqlite.Open(context.Background(), t.TempDir()+"/t.db")
	if err != nil {
		t.Fatal(err)
	}
	hub := live.NewHub(time.Minute, 1<<20)
	runner := live.NewRunner(live.RunnerOptions{Store: store, Provider: llm.NewDemo(llm.DemoOptions{}), Hub: hub})
	o := web.Options{Store: store, Runner: runner, Hub: hub, Provider: "Demo", Demo: true}
	opt(&o)
	s, err := web.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		runner.Shutdown(context.Background())
		s.CloseStreams()
		ts.Close()
		store.Close()
	})
	return ts
}

// TestTrustProxy: X-Forwarded-Proto counts only behind a trusted proxy.
func TestTrustProxy(t *testing.T) {
	for _, trust := range []bool{false, true} {
		ts := newServerWith(t, func(o *web.Options) { o.TrustProxy = trust })
		req, _ := http.NewRequest("POST", ts.URL+"/c", strings.NewReader("message=hi"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		secure := len(resp.Cookies()) == 1 && resp.Cookies()[0].Secure
		hsts := resp.Header.Get("Strict-Transport-Security") != ""
		if secure != trust || hsts != trust {
			t.Errorf("trust %v: Secure cookie %v, HSTS %v", trust, secure, hsts)
		}
	}
}

// TestRequestLog: every request gets an id, and its log line says what was
// asked and answered, never what was written.
func TestRequestLog(t *testing.T) {
	var buf syncBuffer
	ts := newServerWith(t, func(o *web.Options) { o.Logger = slog.New(slog.NewTextHandler(&buf, nil)) })
	resp, _ := postForm(t, client(), ts, "/c?secret-query=1", url.Values{"message": {"my secret question"}}, ts.URL)
	id := resp.Header.Get("X-Request-Id")
	if len(id) != 16 {
		t.Fatalf("X-Request-Id %q", id)
	}
	log := buf.String()
	if !strings.Contains(log, "req="+id) || !strings.Contains(log, "method=POST path=/c status=200") {
		t.Errorf("log lacks the request:\n%s", log)
	}
	for _, secret := range []string{"my secret question", "secret-query", "hxchat_session"} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

// TestSlowBody: a client that trickles its form is cut off after the body
// timeout instead of holding the connection.
func TestSlowBody(t *testing.T) {
	ts := newServerWith(t, func(o *web.Options) { o.BodyTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nmessage=")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server still waits for the body after 5 s")
	}
	if err != nil {
		return // the server closed the connection: cut off
	}
	if resp.StatusCode < 400 {
		t.Errorf("a trickled body got %d", resp.StatusCode)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestNewConversationListEntry: the answer to a first message puts the new
// conversation at the top of the list as the current one, and does not
// render the rest of the list again (a long list made every new
// conversation slower).
func TestNewConversationListEntry(t *testing.T) {
	ts := newServer(t, 0, 0)
	c := client()
	for _, m := range []string{"older one", "old two"} {
		if resp, body := postForm(t, c, ts, "/c", url.Values{"message": {m}}, ts.URL); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", m, resp.StatusCode, body)
		}
	}
	resp, body := postForm(t, c, ts, "/c", url.Values{"message": {"newest"}}, ts.URL)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	id := strings.TrimPrefix(resp.Header.Get("HX-Push-Url"), "/c/")
	want := `<hx-partial hx-target="#conversations" hx-swap="afterbegin"><li id="conv-` + id + `" class="conv">`
	if !strings.Contains(body, want) || !strings.Contains(body, `aria-current="page">newest</a>`) {
		t.Errorf("no current list entry for the new conversation %s:\n%s", id, body)
	}
	if strings.Contains(body, "older one") || strings.Contains(body, "old two") {
		t.Errorf("the answer renders the other conversations again:\n%s", body)
	}
	if _, page := get(t, c, ts.URL+"/c/"+id); !strings.Contains(page, "older one") || !strings.Contains(page, "old two") {
		t.Error("the page of the new conversation lacks the others in its list")
	}
}
