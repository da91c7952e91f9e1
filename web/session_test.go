package web_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/llm"
	"github.com/hxchat/hxchat/sqlite"
	"github.com/hxchat/hxchat/web"
)

// sessionAsks counts the store's answers about sessions.
type sessionAsks struct {
	hxchat.Store
	asks atomic.Int64
}

func (s *sessionAsks) SessionExists(ctx context.Context, id string) (bool, error) {
	s.asks.Add(1)
	return s.Store.SessionExists(ctx, id)
}

// TestSessionsRemembered checks that a browser's session is asked of the
// store once per process at most (a new one never: its first message
// records it), and that an id the store does not know is asked about every
// time and opens nothing.
func TestSessionsRemembered(t *testing.T) {
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), dir+"/t.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	counted := &sessionAsks{Store: store}
	serve := func() *httptest.Server {
		hub := live.NewHub(time.Minute, 1<<20)
		runner := live.NewRunner(live.RunnerOptions{Store: counted, Provider: llm.NewDemo(llm.DemoOptions{TokensPerSecond: 1000}), Hub: hub})
		s, err := web.New(web.Options{Store: counted, Runner: runner, Hub: hub, Provider: "Demo", Demo: true, MaxMessageBytes: 1024})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(s)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			runner.Shutdown(ctx)
			s.CloseStreams()
			ts.Close()
		})
		return ts
	}
	ts := serve()
	c := client()
	_, body := postForm(t, c, ts, "/c", url.Values{"message": {"Remember me."}}, ts.URL)
	m := regexp.MustCompile(`hx-sse:connect="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no event stream in %s", body)
	}
	events := strings.ReplaceAll(m[1], "&amp;", "&")
	conv := regexp.MustCompile(`/c/([a-z2-7]{26})/`).FindStringSubmatch(events)[1]
	for _, path := range []string{events, "/c/" + conv, "/", "/conversations"} {
		if resp, b := get(t, c, ts.URL+path); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %.200s", path, resp.Status, b)
		}
	}
	if n := counted.asks.Load(); n != 0 {
		t.Errorf("the store was asked %d times about the session its first message recorded, want 0", n)
	}

	// An id of the right shape that the store never issued: asked each
	// time, and it opens nobody's conversation.
	forged := client()
	u, _ := url.Parse(ts.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: "hxchat_session", Value: hxchat.NewID()}})
	for range 2 {
		if resp, _ := get(t, forged, ts.URL+"/c/"+conv); resp.StatusCode != http.StatusNotFound {
			t.Errorf("a forged session's GET of another's conversation: %s, want 404", resp.Status)
		}
	}
	if n := counted.asks.Load(); n != 2 {
		t.Errorf("two requests with an unknown session asked the store %d times, want 2", n)
	}

	// Another process (a restart, a replica) asks once, then remembers.
	ts2 := serve()
	jar, _ := cookiejar.New(nil)
	u2, _ := url.Parse(ts2.URL)
	jar.SetCookies(u2, c.Jar.Cookies(u))
	c2 := &http.Client{Jar: jar}
	for range 3 {
		if resp, b := get(t, c2, ts2.URL+"/c/"+conv); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET the conversation on another process: %s %.200s", resp.Status, b)
		}
	}
	if n := counted.asks.Load(); n != 3 {
		t.Errorf("three requests on a new process asked the store %d times in all, want 3 (2 before, 1 now)", n)
	}
}
