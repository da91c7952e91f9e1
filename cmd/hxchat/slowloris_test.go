package main

// The HTTP server's own limits, on the server Run builds: oversized headers
// are refused, and slow clients are cut. web/badinput_test.go tests the
// body timeout on every route; here the server's timeouts are checked as Run
// sets them, and, shortened through Main.Timeouts, against real clients.

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/internal/slowclient"
)

// startDemoApp runs the program on the offline demo model.
func startDemoApp(t *testing.T) (*Main, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(nil, dir)
	cfg.OpenAI = config.OpenAI{}
	cfg.Drain = 0
	return startApp(t, cfg), dir
}

// TestHTTPServerLimits: the server has a header timeout, an idle timeout and
// a header size limit, and no read or write timeout (they would cut event
// streams, which last as long as an answer; the web layer limits bodies
// itself).
func TestHTTPServerLimits(t *testing.T) {
	m, _ := startDemoApp(t)
	s := m.srv
	if s.ReadHeaderTimeout <= 0 || s.ReadHeaderTimeout > 30*time.Second {
		t.Errorf("ReadHeaderTimeout %v: slow headers would hold connections", s.ReadHeaderTimeout)
	}
	if s.IdleTimeout <= 0 || s.IdleTimeout > 10*time.Minute {
		t.Errorf("IdleTimeout %v", s.IdleTimeout)
	}
	if s.ReadTimeout != 0 || s.WriteTimeout != 0 {
		t.Errorf("ReadTimeout %v, WriteTimeout %v: they would cut event streams", s.ReadTimeout, s.WriteTimeout)
	}
	if s.MaxHeaderBytes != 64<<10 {
		t.Errorf("MaxHeaderBytes %d, want 64 KiB", s.MaxHeaderBytes)
	}
}

// TestOversizedHeaders: headers over 64 KiB (MaxHeaderBytes) are refused
// with 431 before any handler runs: a message sent with them is not stored.
// Headers within the limit pass.
func TestOversizedHeaders(t *testing.T) {
	m, dir := startDemoApp(t)
	base := "http://" + m.Addr()
	pad := strings.Repeat("a", 100<<10)
	for _, c := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/healthz"}, {"POST", "/c"}, {"GET", "/conversations"}, {"POST", "/lang"},
	} {
		for _, h := range []string{"X-Pad", "Cookie"} {
			var body io.Reader
			if c.method == "POST" {
				body = strings.NewReader(url.Values{"message": {"a question"}, "lang": {"ja"}}.Encode())
			}
			req, _ := http.NewRequest(c.method, base+c.path, body)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(h, "p="+pad)
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatalf("%s %s with a big %s: %v", c.method, c.path, h, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(string(b), "Too Large") {
				t.Errorf("%s %s with a big %s: %d %q", c.method, c.path, h, resp.StatusCode, b)
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Errorf("%s %s with a big %s set a cookie", c.method, c.path, h)
			}
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hxchat.db")+"?_pragma=query_only(ON)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sessions, convs int
	if err := db.QueryRow("SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM conversations)").Scan(&sessions, &convs); err != nil {
		t.Fatal(err)
	}
	if sessions != 0 || convs != 0 {
		t.Errorf("refused requests stored %d sessions, %d conversations", sessions, convs)
	}

	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("X-Pad", strings.Repeat("a", 48<<10))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("48 KiB of headers: %d", resp.StatusCode)
	}
}

// TestSlowloris: on the server as Run builds it, with its timeouts
// shortened, a client that trickles its headers is cut after the header
// timeout, one that sends nothing too, one that trickles a form after the
// body timeout, and a kept-alive connection that goes quiet after the idle
// timeout; the trickled message is not stored.
func TestSlowloris(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(nil, dir)
	cfg.OpenAI = config.OpenAI{}
	m := NewMain(cfg, io.Discard)
	m.Timeouts = Timeouts{Header: 600 * time.Millisecond, Body: 900 * time.Millisecond, Idle: 700 * time.Millisecond}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	msg := url.Values{"message": {"a trickled question"}}.Encode()
	probes := []struct {
		name string
		slowclient.Probe
	}{
		{"slow headers", slowclient.Probe{Limit: m.Timeouts.Header, Every: 100 * time.Millisecond,
			Start: "GET / HTTP/1.1\r\nHost: x\r\n", Slow: "X-Slow: " + strings.Repeat("a", 10000)}},
		{"silent", slowclient.Probe{Limit: m.Timeouts.Header}},
		{"slow form", slowclient.Probe{Limit: m.Timeouts.Body, Every: 100 * time.Millisecond, Slow: msg + strings.Repeat("a", 10000),
			Start: fmt.Sprintf("POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", len(msg)+20000)}},
		{"idle", slowclient.Probe{Limit: m.Timeouts.Idle, Idle: true, Start: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"}},
	}
	var wg sync.WaitGroup
	for i := range probes {
		wg.Go(func() { probes[i].Run(m.Addr()) })
	}
	wg.Wait()
	for _, p := range probes {
		if p.Err != nil {
			t.Errorf("%s: %v", p.name, p.Err)
			continue
		}
		if p.Took >= p.Limit+2*time.Second || p.Took < p.Limit*3/4 {
			t.Errorf("%s: cut after %v, want about %v", p.name, p.Took.Round(time.Millisecond), p.Limit)
		}
		if p.Status != 0 && (p.Status < 400 || p.Status >= 500) || !p.Closed {
			t.Errorf("%s: answered %d, closed %v", p.name, p.Status, p.Closed)
		}
		t.Logf("%s: cut after %v (status %d)", p.name, p.Took.Round(time.Millisecond), p.Status)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hxchat.db")+"?_pragma=query_only(ON)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM messages").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d messages stored (%v)", n, err)
	}
}
