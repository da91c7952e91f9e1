package web_test

import (
	"bufio"
	"context"
	"net/http"
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

// readCounts counts the store's reads of conversations and messages.
type readCounts struct {
	hxchat.Store
	conversation, message, owned, sessions atomic.Int64
}

func (s *readCounts) SessionExists(ctx context.Context, id string) (bool, error) {
	s.sessions.Add(1)
	return s.Store.SessionExists(ctx, id)
}

func (s *readCounts) Conversation(ctx context.Context, sessionID, id string) (*hxchat.Conversation, error) {
	s.conversation.Add(1)
	return s.Store.Conversation(ctx, sessionID, id)
}

func (s *readCounts) Message(ctx context.Context, conversationID string, id int64) (*hxchat.Message, error) {
	s.message.Add(1)
	return s.Store.Message(ctx, conversationID, id)
}

func (s *readCounts) OwnedMessage(ctx context.Context, sessionID, conversationID string, id int64) (*hxchat.Message, error) {
	s.owned.Add(1)
	return s.Store.OwnedMessage(ctx, sessionID, conversationID, id)
}

// oneOwner is the shared store's side of a cluster in which replica a
// generates every answer; it counts the questions of the limit per
// session and the questions for the owner. Its other methods are not
// called.
type oneOwner struct {
	hxchat.Cluster
	store                   hxchat.Store
	a                       hxchat.Replica
	owner, owned, streaming atomic.Int64
}

func (c *oneOwner) Owner(context.Context, int64, time.Duration) (hxchat.Replica, bool, error) {
	c.owner.Add(1)
	return c.a, true, nil
}

func (c *oneOwner) OwnedAnswer(ctx context.Context, sessionID, conversationID string, id int64, ttl time.Duration) (*hxchat.Message, hxchat.Replica, bool, error) {
	c.owned.Add(1)
	m, err := c.store.OwnedMessage(ctx, sessionID, conversationID, id)
	if err != nil {
		return nil, hxchat.Replica{}, false, err
	}
	return m, c.a, m.State == hxchat.StateStreaming, nil
}

func (c *oneOwner) StreamingAnswers(context.Context, string) (int, error) {
	c.streaming.Add(1)
	return 0, nil
}

// TestRelayStoreReads: what a relayed answer asks the store. A new
// browser's first message does not ask how many answers its session runs
// (it has just been made), a later one does; the request of an answer's
// stream reads its message once, with its owner's check (OwnedMessage, not
// Conversation and Message), with its owner (Cluster.OwnedAnswer, not
// OwnedMessage and then Owner); the replica that generates the answer
// serves the relay from its stream, without reading the message again. The
// replica that generates the answer knows the reader's session from the
// answer's stream and does not ask the store about it; the relaying one
// asks once per request, as for any other request.
func TestRelayStoreReads(t *testing.T) {
	store, err := sqlite.Open(context.Background(), t.TempDir()+"/t.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reads := &readCounts{Store: store}
	tsA, tsB := httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
	cluster := &oneOwner{store: store, a: hxchat.Replica{ID: "a", URL: "http://" + tsA.Listener.Addr().String()}}
	for _, r := range []struct {
		self string
		ts   *httptest.Server
	}{{"a", tsA}, {"b", tsB}} {
		hub := live.NewHub(time.Minute, 1<<20)
		runner := live.NewRunner(live.RunnerOptions{Store: reads, Provider: llm.NewDemo(llm.DemoOptions{TokensPerSecond: 200}), Hub: hub})
		s, err := web.New(web.Options{Store: reads, Runner: runner, Hub: hub, Provider: "Demo", Demo: true, MaxMessageBytes: 1024,
			Cluster: &web.Cluster{Store: cluster, Self: r.self, URL: "http://" + r.ts.Listener.Addr().String(), Secret: []byte("secret"),
				TTL: time.Minute, MaxPerSession: 3}})
		if err != nil {
			t.Fatal(err)
		}
		r.ts.Config.Handler = s
		r.ts.Start()
		defer r.ts.Close()
		defer s.CloseStreams()
		defer runner.Shutdown(context.Background())
	}

	c := client()
	_, body := postForm(t, c, tsA, "/c", url.Values{"message": {"Relay me."}}, tsA.URL)
	if n := cluster.streaming.Load(); n != 0 {
		t.Errorf("a new browser's first message asked %d times how many answers its session runs, want 0", n)
	}
	m := regexp.MustCompile(`hx-sse:connect="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no event stream in %s", body)
	}
	events := strings.ReplaceAll(m[1], "&amp;", "&")
	reads.conversation.Store(0)
	reads.message.Store(0)
	reads.owned.Store(0)
	reads.sessions.Store(0)

	// Its answer runs on A; B relays it. A relay that fails waits for the
	// owner (which this cluster always names) without end: the test's
	// deadline cuts it.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", tsB.URL+events, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var last string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event: ") {
			last = sc.Text()
		}
	}
	if last != "event: "+live.FinalEvent {
		t.Fatalf("the relayed stream ended after %q, want the final event", last)
	}
	if cluster.owned.Load() == 0 {
		t.Fatal("B did not relay the answer: it asked for no owner")
	}
	if conv, msg, owned := reads.conversation.Load(), reads.message.Load(), reads.owned.Load(); conv != 0 || msg != 0 || owned != 0 {
		t.Errorf("the relayed stream read conversations %d, messages %d, owned messages %d times; want 0, 0, 0", conv, msg, owned)
	}
	if owned, owner := cluster.owned.Load(), cluster.owner.Load(); owned != 1 || owner != 0 {
		t.Errorf("the relayed stream asked for the answer with its owner %d times and for its owner %d times; want 1, 0", owned, owner)
	}
	if n := reads.sessions.Load(); n != 1 {
		t.Errorf("the relayed stream asked %d times whether its session exists, want 1", n)
	}
	conv := regexp.MustCompile(`/c/([a-z2-7]{26})/`).FindStringSubmatch(events)[1]
	reads.sessions.Store(0)

	// A forged session gets no stream: the store is asked each time.
	forged := client()
	u, _ := url.Parse(tsB.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: "hxchat_session", Value: hxchat.NewID()}})
	for range 2 {
		if resp, _ := get(t, forged, tsB.URL+events); resp.StatusCode != http.StatusNotFound {
			t.Errorf("a forged session's stream of another's answer: %s, want 404", resp.Status)
		}
	}
	if resp, _ := get(t, forged, tsB.URL+"/c/"+conv); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a forged session's GET of another's conversation: %s, want 404", resp.Status)
	}
	if n := reads.sessions.Load(); n != 3 {
		t.Errorf("the forged session was asked about %d times in three requests, want 3", n)
	}
	// Also on A, which holds the answer's stream: a forged session is
	// asked about, and gets nothing.
	forged.Jar.SetCookies(u, nil)
	uA, _ := url.Parse(tsA.URL)
	forged.Jar.SetCookies(uA, []*http.Cookie{{Name: "hxchat_session", Value: hxchat.NewID()}})
	if resp, _ := get(t, forged, tsA.URL+events); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a forged session's stream of another's answer on its replica: %s, want 404", resp.Status)
	}
	if n := reads.sessions.Load(); n != 4 {
		t.Errorf("the forged session's stream on A asked about it %d times in all, want 4", n)
	}

	// The reader's own stream on A, whose hub holds the answer (ended, it
	// lingers), proves the session without the store.
	reads.sessions.Store(0)
	if resp, b := get(t, c, tsA.URL+events); resp.StatusCode != http.StatusOK || !strings.Contains(b, "event: "+live.FinalEvent) {
		t.Errorf("the reader's stream on A: %s %.300s", resp.Status, b)
	}
	if n := reads.sessions.Load(); n != 0 {
		t.Errorf("the reader's stream on its answer's replica asked %d times whether its session exists, want 0", n)
	}

	// A later message of the session asks.
	postForm(t, c, tsA, "/c", url.Values{"message": {"And another."}}, tsA.URL)
	if n := cluster.streaming.Load(); n != 1 {
		t.Errorf("a later message asked %d times how many answers its session runs, want 1", n)
	}
}
