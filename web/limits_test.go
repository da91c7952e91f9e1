package web_test

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat/web"
)

// TestRequestRate: a session that floods the server is refused with 429, a
// Retry-After and a message saying when to try again; other sessions and the
// static files are not affected; a page without a session counts against its
// address, with a wider budget.
func TestRequestRate(t *testing.T) {
	ts := newServerWith(t, func(o *web.Options) { o.RequestRate = 1 }) // bursts of 10
	flooder, other := client(), client()
	postForm(t, flooder, ts, "/c", url.Values{"message": {"hi"}}, ts.URL) // gets a session
	postForm(t, other, ts, "/c", url.Values{"message": {"hi"}}, ts.URL)

	var refused *http.Response
	var body string
	for i := 0; i < 20 && refused == nil; i++ {
		if resp, b := get(t, flooder, ts.URL+"/conversations"); resp.StatusCode == http.StatusTooManyRequests {
			refused, body = resp, b
		} else if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	if refused == nil {
		t.Fatal("20 requests at once from one session: none refused")
	}
	secs, err := strconv.Atoi(refused.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 2 {
		t.Errorf("Retry-After %q, want about 1 s", refused.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "Too many requests") || !strings.Contains(body, "Try again in "+strconv.Itoa(secs)+" s") {
		t.Errorf("429 says %q", body)
	}
	if resp, _ := get(t, flooder, ts.URL+"/conversations", "Accept-Language", "ja"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the flood goes on: %d", resp.StatusCode)
	} else if _, b := get(t, flooder, ts.URL+"/conversations", "Accept-Language", "ja"); !strings.Contains(b, "秒後にもう一度") {
		t.Errorf("429 in Japanese says %q", b)
	}
	if resp, _ := get(t, other, ts.URL+"/conversations"); resp.StatusCode != http.StatusOK {
		t.Errorf("another session refused: %d", resp.StatusCode)
	}
	if resp, _ := get(t, flooder, ts.URL+"/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("health check refused: %d", resp.StatusCode)
	}

	// No session: the address's budget is four sessions wide.
	anon := &http.Client{}
	n := 0
	for ; n < 100; n++ {
		if resp, _ := get(t, anon, ts.URL+"/"); resp.StatusCode != http.StatusOK {
			break
		}
	}
	if n < 35 || n > 45 {
		t.Errorf("%d pages without a session before a refusal, want about 40", n)
	}
}

// TestOpenStreams: a session may follow a limited number of streams at once;
// one more is refused with a message, and closing one makes room.
func TestOpenStreams(t *testing.T) {
	ts := newServer(t, 5, 0, func(o *web.Options) { o.MaxStreams = 2 })
	c := client()
	_, page := postForm(t, c, ts, "/c", url.Values{"message": {"hi"}}, ts.URL)
	events := regexp.MustCompile(`/c/\w+/m/\d+/events`).FindString(page)
	if events == "" {
		t.Fatalf("no stream in %s", page)
	}
	open := func() *http.Response {
		req, _ := http.NewRequest("GET", ts.URL+events, nil)
		req.Header.Set("HX-Request", "true")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first, second := open(), open()
	for _, r := range []*http.Response{first, second} {
		if r.StatusCode != http.StatusOK {
			t.Fatalf("stream: %d", r.StatusCode)
		}
		bufio.NewReader(r.Body).ReadString('\n') // it is open
	}
	third := open()
	b, _ := io.ReadAll(third.Body)
	third.Body.Close()
	if third.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(b), "Close some of them") {
		t.Errorf("third stream: %d %q", third.StatusCode, b)
	}
	first.Body.Close()
	// The server notices the closed stream at its next write.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := open()
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed stream does not make room")
		}
		time.Sleep(50 * time.Millisecond)
	}
	second.Body.Close()
}
