package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/cputime"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/llm"
	"github.com/hxchat/hxchat/sqlite"
	"github.com/hxchat/hxchat/web"
)

// relayPair is two replicas on one SQLite store: A generates every answer
// (oneOwner), B relays them. It counts the connections A accepts and the
// internal requests A serves, by kind.
type relayPair struct {
	a, b  *httptest.Server
	conns atomic.Int64

	mu       sync.Mutex
	requests map[string]int // "feed", "sub", "unsub", "events"
}

// newRelayPair starts the pair; the demo model writes tps tokens a second.
// perStreamA makes A a replica of the version before the feeds (no feed
// route), perStreamB makes B relay stream by stream.
func newRelayPair(tb testing.TB, tps float64, perStreamA, perStreamB bool) *relayPair {
	return startRelayPair(tb, tps, perStreamA, perStreamB, 0, nil)
}

// startRelayPair is newRelayPair with the servers' Keepalive (0: the
// default) and, when via is set, B reaching A through via's address
// (via(A's address) returns it).
func startRelayPair(tb testing.TB, tps float64, perStreamA, perStreamB bool, keepalive time.Duration, via func(addr string) string) *relayPair {
	store, err := sqlite.Open(context.Background(), tb.TempDir()+"/t.db")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() }) // after the servers': cleanups run last first
	p := &relayPair{a: httptest.NewUnstartedServer(nil), b: httptest.NewUnstartedServer(nil), requests: make(map[string]int)}
	aAddr := p.a.Listener.Addr().String()
	if via != nil {
		aAddr = via(aAddr)
	}
	cluster := &oneOwner{store: store, a: hxchat.Replica{ID: "a", URL: "http://" + aAddr}}
	p.a.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			p.conns.Add(1)
		}
	}
	for _, r := range []struct {
		self      string
		ts        *httptest.Server
		perStream bool
	}{{"a", p.a, perStreamA}, {"b", p.b, perStreamB}} {
		hub := live.NewHub(time.Minute, 1<<20)
		runner := live.NewRunner(live.RunnerOptions{Store: store, Provider: llm.NewDemo(llm.DemoOptions{TokensPerSecond: tps}), Hub: hub})
		s, err := web.New(web.Options{Store: store, Runner: runner, Hub: hub, Provider: "Demo", Demo: true, MaxMessageBytes: 1024,
			Keepalive: keepalive,
			Cluster: &web.Cluster{Store: cluster, Self: r.self, URL: "http://" + r.ts.Listener.Addr().String(), Secret: []byte("secret"),
				TTL: time.Minute, PerStreamRelay: r.perStream}})
		if err != nil {
			tb.Fatal(err)
		}
		// The label tells the replicas' CPU apart in a profile of
		// BenchmarkRelay (go tool pprof -tags): goroutines that a
		// handler starts (a feed's reader, an answer's generation)
		// inherit it.
		labels := pprof.Labels("replica", r.self)
		self := r.self
		h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if kind := internalKind(req.URL.Path); kind != "" && self == "a" {
				p.mu.Lock()
				p.requests[kind]++
				p.mu.Unlock()
			}
			pprof.Do(req.Context(), labels, func(context.Context) { s.ServeHTTP(w, req) })
		})
		r.ts.Config.Handler = h
		r.ts.Start()
		tb.Cleanup(func() {
			runner.Shutdown(context.Background())
			s.CloseStreams()
			r.ts.Close()
		})
	}
	return p
}

func internalKind(path string) string {
	switch {
	case path == "/_replica/feed":
		return "feed"
	case strings.HasPrefix(path, "/_replica/feed/") && strings.Contains(path, "/unsub/"):
		return "unsub"
	case strings.HasPrefix(path, "/_replica/feed/") && strings.Contains(path, "/sub/"):
		return "sub"
	case strings.HasPrefix(path, "/_replica/c/") && strings.HasSuffix(path, "/events"):
		return "events"
	}
	return ""
}

func (p *relayPair) count(kind string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[kind]
}

var reConnectURL = regexp.MustCompile(`hx-sse:connect="([^"]+)"`)

// ask posts a question on A from a new browser and returns its answer's
// event stream's path and the answer's id.
func (p *relayPair) ask(tb testing.TB, question string) (events string, mid int64) {
	req, _ := http.NewRequest("POST", p.a.URL+"/c", strings.NewReader(url.Values{"message": {question}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", p.a.URL)
	req.Header.Set("HX-Request", "true")
	c := client()
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := reConnectURL.FindStringSubmatch(string(body))
	if m == nil {
		tb.Fatalf("no event stream in %d %s", resp.StatusCode, body)
	}
	events = strings.ReplaceAll(m[1], "&amp;", "&")
	i := strings.Index(events, "/m/")
	mid, _ = strconv.ParseInt(strings.TrimSuffix(events[i+3:], "/events"), 10, 64)
	// The stream's path needs the session's cookie: the reader is this
	// browser.
	u, _ := url.Parse(p.a.URL)
	sess := c.Jar.Cookies(u)
	sessions.Store(events, sess)
	return events, mid
}

// sessions are the browsers' cookies, by their answer's stream.
var sessions sync.Map

// sseEvent is one event of a stream as a browser parses it.
type sseEvent struct{ id, name, raw string }

// read reads the event stream at base+events, from lastID, until its
// final event or its end; keepalive comments are left out.
func read(tb testing.TB, base, events, lastID string) ([]sseEvent, error) {
	req, _ := http.NewRequest("GET", base+events, nil)
	if c, ok := sessions.Load(events); ok {
		for _, k := range c.([]*http.Cookie) {
			req.AddCookie(k)
		}
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var got []sseEvent
	var e sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if e.raw != "" {
				got = append(got, e)
				if e.name == live.FinalEvent {
					return got, nil
				}
			}
			e = sseEvent{}
			continue
		case strings.HasPrefix(line, ":"):
			continue
		case strings.HasPrefix(line, "id: "):
			e.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			e.name = line[7:]
		}
		e.raw += line + "\n"
	}
	return got, fmt.Errorf("the stream ended after %d events without the final one: %v", len(got), sc.Err())
}

// diffEvents says where relayed differs from direct, "" if nowhere.
func diffEvents(direct, relayed []sseEvent) string {
	for i := range min(len(direct), len(relayed)) {
		if direct[i] != relayed[i] {
			return fmt.Sprintf("event %d: A %q, B %q", i, direct[i].raw, relayed[i].raw)
		}
	}
	if len(direct) != len(relayed) {
		return fmt.Sprintf("A gave %d events, B %d", len(direct), len(relayed))
	}
	return ""
}

// checkWhole checks that events is a whole stream: ids in order without a
// gap or a repeat, ending with the final event.
func checkWhole(t *testing.T, what string, events []sseEvent) {
	t.Helper()
	if len(events) == 0 || events[len(events)-1].name != live.FinalEvent {
		t.Errorf("%s: does not end with the final event: %d events", what, len(events))
		return
	}
	for i := 1; i < len(events); i++ {
		_, prev, _ := live.ParseEventID(events[i-1].id)
		_, seq, _ := live.ParseEventID(events[i].id)
		if seq != prev+1 {
			t.Errorf("%s: event %d has id %s after %s", what, i, events[i].id, events[i-1].id)
			return
		}
	}
}

// TestFeedManyStreams: many relayed streams of one owner go over one feed
// (one request to A's feed route, a handful of connections for all, no
// per-stream request), and each reader gets exactly what A gives its own
// readers: the same events byte for byte from the same Last-Event-ID, or
// a snapshot and the rest.
func TestFeedManyStreams(t *testing.T) {
	p := newRelayPair(t, 30, false, false) // answers of ~4 s: all still run when B relays them
	const n = 40
	type answer struct {
		events string
		mid    int64
	}
	answers := make([]answer, n)
	for i := range answers {
		answers[i].events, answers[i].mid = p.ask(t, fmt.Sprintf("Question %d?", i))
	}
	before := p.conns.Load()
	var wg sync.WaitGroup
	relayed := make([][]sseEvent, n)
	errs := make([]error, n)
	for i, a := range answers {
		wg.Go(func() {
			from := ""
			if i%2 == 0 {
				from = live.EventID(a.mid, 0) // every event, for a comparison with A's
			}
			relayed[i], errs[i] = read(t, p.b.URL, a.events, from)
		})
	}
	wg.Wait()
	conns := p.conns.Load() - before
	for i, a := range answers {
		if errs[i] != nil {
			t.Fatalf("relayed stream %d: %v", i, errs[i])
		}
		checkWhole(t, fmt.Sprintf("relayed stream %d", i), relayed[i])
		if i%2 == 0 {
			p.sameAsA(t, fmt.Sprintf("relayed stream %d", i), a.events, a.mid, relayed[i])
		}
	}
	if got := p.count("feed"); got != 1 {
		t.Errorf("B opened %d feeds to A, want 1", got)
	}
	if got := p.count("sub"); got != n {
		t.Errorf("B subscribed %d times, want %d", got, n)
	}
	if got := p.count("events"); got != 0 {
		t.Errorf("B made %d per-stream requests, want 0", got)
	}
	// The feed, and a few connections for the subscriptions.
	if conns > 5 {
		t.Errorf("A accepted %d connections for %d relayed streams, want at most 5", conns, n)
	}
}

// TestFeedSlowReader: a relayed reader that does not keep up overflows its
// queue on B; it loses its subscription, not the feed, and subscribes
// again from its last event: it gets every event once, in order, the same
// as A's own reader, while a reader that keeps up on the same feed goes on.
func TestFeedSlowReader(t *testing.T) {
	slow := make(chan struct{})
	var pauses atomic.Int64
	defer web.SetFeedQueue(512, func() {
		select {
		case <-slow:
		default:
			return
		}
		pauses.Add(1)
		time.Sleep(20 * time.Millisecond)
	})()
	p := newRelayPair(t, 1000, false, false)
	eventsSlow, midSlow := p.ask(t, "Slowly?")
	eventsFast, _ := p.ask(t, "Fast?")
	close(slow) // every reader pauses: both overflow at times, each alone
	var wg sync.WaitGroup
	var gotSlow, gotFast []sseEvent
	var errSlow, errFast error
	wg.Go(func() { gotSlow, errSlow = read(t, p.b.URL, eventsSlow, live.EventID(midSlow, 0)) })
	wg.Go(func() { gotFast, errFast = read(t, p.b.URL, eventsFast, "") })
	wg.Wait()
	if errSlow != nil || errFast != nil {
		t.Fatalf("relayed streams: %v, %v", errSlow, errFast)
	}
	checkWhole(t, "the slow reader", gotSlow)
	checkWhole(t, "the other reader", gotFast)
	p.sameAsA(t, "the slow reader", eventsSlow, midSlow, gotSlow)
	if subs := p.count("sub"); subs <= 2 {
		t.Errorf("the readers subscribed %d times: no queue overflowed (%d pauses)", subs, pauses.Load())
	}
	if got := p.count("feed"); got != 1 {
		t.Errorf("B opened %d feeds, want 1: an overflow broke the feed", got)
	}
}

// TestFeedBroken: the feed breaks in the middle of an answer (A's
// connections are cut): the relayed reader goes back through relayAnswer,
// which opens a new feed and resumes after the reader's last event.
func TestFeedBroken(t *testing.T) {
	p := newRelayPair(t, 40, false, false)
	relayAcross(t, p, "Break it?", "the break", func() bool { return p.count("sub")+p.count("events") > 0 }, p.a.CloseClientConnections)
}

// TestFeedSilent: the network to A is lost without a word (the feed's
// connection stays open, and nothing comes through it): B's watchdog takes
// the feed for broken after two keepalives, and the relayed reader resumes
// over a new one.
func TestFeedSilent(t *testing.T) {
	var fr *freezer
	p := startRelayPair(t, 20, false, false, 300*time.Millisecond, func(addr string) string {
		fr = newFreezer(t, addr)
		return fr.addr()
	})
	relayAcross(t, p, "Go quiet?", "the silence", func() bool { return p.count("sub") > 0 }, func() { fr.freeze() })
}

// relayAcross asks A a question, follows its answer on B from its start,
// and once B relays it (relaying) and a few tokens have come, does cut to
// the feed; the reader must get every event once, as A gives them, over a
// second feed.
func relayAcross(t *testing.T, p *relayPair, question, cutName string, relaying func() bool, cut func()) {
	t.Helper()
	events, mid := p.ask(t, question)
	done := make(chan struct{})
	var got []sseEvent
	var err error
	go func() {
		defer close(done)
		got, err = read(t, p.b.URL, events, live.EventID(mid, 0))
	}()
	for deadline := time.Now().Add(10 * time.Second); !relaying(); {
		if time.Now().After(deadline) {
			t.Fatal("B did not relay the answer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a few tokens
	cut()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	checkWhole(t, "the relayed stream", got)
	p.sameAsA(t, "the relayed stream across "+cutName, events, mid, got)
	if n := p.count("feed"); n != 2 {
		t.Errorf("B opened %d feeds, want 2 (one before %s, one after)", n, cutName)
	}
}

// freezer passes TCP connections on to a server; freeze makes the feeds
// it passes (the connections whose first request is GET /_replica/feed)
// silent for good, as a lost network does, without closing them. Those
// it passes afterwards are not.
type freezer struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen chan struct{} // closed by freeze
	quit   chan struct{} // closed at the test's end
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, frozen: make(chan struct{}), quit: make(chan struct{})}
	t.Cleanup(func() { close(f.quit); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.pass(c, target)
		}
	}()
	return f
}

func (f *freezer) addr() string { return f.ln.Addr().String() }

func (f *freezer) freeze() {
	f.mu.Lock()
	close(f.frozen)
	f.frozen = make(chan struct{})
	f.mu.Unlock()
}

func (f *freezer) pass(c net.Conn, target string) {
	defer c.Close()
	f.mu.Lock()
	frozen := f.frozen
	f.mu.Unlock()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	first := make([]byte, 64)
	n, err := c.Read(first)
	if err != nil {
		return
	}
	feed := strings.HasPrefix(string(first[:n]), "GET /_replica/feed ")
	if _, err := up.Write(first[:n]); err != nil {
		return
	}
	cp := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				dst.Close()
				return
			}
			if feed {
				select {
				case <-frozen:
					<-f.quit // silent, and open, until the test ends
					return
				default:
				}
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	go cp(up, c)
	cp(c, up)
}

// TestFeedFallback: a replica of the version before the feeds has no feed
// route; B relays from it stream by stream, as before, and does not ask
// for a feed again for each stream.
func TestFeedFallback(t *testing.T) {
	p := newRelayPair(t, 100, true, false)
	for i := range 3 {
		events, mid := p.ask(t, fmt.Sprintf("Old replica %d?", i))
		got, err := read(t, p.b.URL, events, live.EventID(mid, 0))
		if err != nil {
			t.Fatal(err)
		}
		checkWhole(t, "the relayed stream", got)
		p.sameAsA(t, "the relayed stream", events, mid, got)
	}
	if n := p.count("feed"); n != 1 {
		t.Errorf("B asked A for a feed %d times, want once (then it remembers)", n)
	}
	if n := p.count("events"); n != 3 {
		t.Errorf("B made %d per-stream requests, want 3", n)
	}
}

// BenchmarkRelay measures the CPU of a relayed token: two replicas in this
// process, A generating n answers of the demo model at once, each followed
// by k readers, who read from B (relayed over a feed, or stream by stream
// as before the feeds) or from A itself (local, no relay). An op is a
// round of n answers; cpu-ns/token is the whole process's CPU (A, B, the
// model, the readers) over the events the readers got, so that the relay's
// cost per token is the difference to local. Several readers per answer
// share its generation's cost, which would otherwise hide the relay's.
//
//	go test -run '^$' -bench Relay -benchtime 3x -count 5 ./web
//
// A profile of one variant tells the CPU of A and of B apart (the
// servers' handlers are labelled):
//
//	go test -run '^$' -bench 'Relay/feed$' -benchtime 3x -cpuprofile /tmp/feed.prof ./web
//	go tool pprof -tags /tmp/feed.prof
func BenchmarkRelay(b *testing.B) {
	const n, k, tps = 40, 5, 100
	for _, c := range []struct {
		name       string
		relay      bool
		perStreamB bool
	}{{"local", false, false}, {"perstream", true, true}, {"feed", true, false}} {
		b.Run(c.name, func(b *testing.B) {
			p := newRelayPair(b, tps, false, c.perStreamB)
			base := p.a.URL
			if c.relay {
				base = p.b.URL
			}
			var tokens atomic.Int64
			var spent time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				answers := make([]string, n)
				mids := make([]int64, n)
				for j := range answers {
					answers[j], mids[j] = p.ask(b, fmt.Sprintf("Round %d question %d?", i, j))
				}
				b.StartTimer()
				cpu := cputime.Start()
				var wg sync.WaitGroup
				for j := range n * k {
					events := answers[j%n]
					wg.Go(func() {
						// From the first event: every token counts.
						got, err := benchRead(base, events, live.EventID(mids[j%n], 0))
						if err != nil {
							b.Error(err)
						}
						tokens.Add(int64(got))
					})
				}
				wg.Wait()
				d, ok := cpu.Since()
				if !ok {
					b.Skip("no process CPU time here")
				}
				spent += d
			}
			b.ReportMetric(float64(spent.Nanoseconds())/float64(tokens.Load()), "cpu-ns/token")
			b.ReportMetric(float64(tokens.Load())/float64(b.N), "tokens/op")
		})
	}
}

// benchRead reads an event stream to its final event and counts its
// events, without keeping them.
func benchRead(base, events, lastID string) (int, error) {
	req, _ := http.NewRequest("GET", base+events, nil)
	req.Header.Set("Last-Event-ID", lastID)
	if c, ok := sessions.Load(events); ok {
		for _, k := range c.([]*http.Cookie) {
			req.AddCookie(k)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return n, fmt.Errorf("after %d events: %w", n, err)
		}
		if len(line) > 4 && string(line[:4]) == "id: " {
			n++
		}
		if string(line) == "event: "+live.FinalEvent+"\n" {
			return n, nil
		}
	}
}

// sameAsA checks that got, what a reader of answer mid got through B, is
// what A itself gives a reader of the answer's stream from its start.
func (p *relayPair) sameAsA(t *testing.T, what, events string, mid int64, got []sseEvent) {
	t.Helper()
	direct, err := read(t, p.a.URL, events, live.EventID(mid, 0))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffEvents(direct, got); d != "" {
		t.Errorf("%s: other events than A gives: %s", what, d)
	}
}
