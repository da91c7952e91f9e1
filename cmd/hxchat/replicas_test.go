package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/postgres/pgtest"
)

// roundRobin is a load balancer for tests: each request goes to the next
// replica in turn, without stickiness; a replica that does not accept the
// connection is skipped. Event streams are passed on as they come.
type roundRobin struct {
	t        *testing.T
	backends []string
	srv      *httptest.Server
	tr       *http.Transport

	mu   sync.Mutex
	next int
	log  []string // each request's backend and path, in order
}

func newRoundRobin(t *testing.T, backends ...string) *roundRobin {
	p := &roundRobin{t: t, backends: backends, tr: &http.Transport{}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(func() { p.srv.Close(); p.tr.CloseIdleConnections() })
	return p
}

// servedBy returns the backends that served requests whose path ends with
// suffix.
func (p *roundRobin) servedBy(suffix string) map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	by := make(map[string]bool)
	for _, l := range p.log {
		if backend, path, _ := strings.Cut(l, " "); strings.HasSuffix(path, suffix) {
			by[backend] = true
		}
	}
	return by
}

// URL returns the balancer's address.
func (p *roundRobin) URL() string { return p.srv.URL }

// sendNextTo makes the next request go to backend i (then on in turn).
func (p *roundRobin) sendNextTo(i int) {
	p.mu.Lock()
	p.next = i
	p.mu.Unlock()
}

func (p *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	for range p.backends {
		p.mu.Lock()
		backend := p.backends[p.next%len(p.backends)]
		p.next++
		p.mu.Unlock()
		u, _ := url.Parse(backend + r.URL.RequestURI())
		out := r.Clone(r.Context())
		out.URL, out.RequestURI, out.Host = u, "", r.Host
		out.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := p.tr.RoundTrip(out)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			continue // a dead replica: the next one
		}
		p.mu.Lock()
		p.log = append(p.log, backend+" "+r.URL.Path)
		p.mu.Unlock()
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				if _, err := w.Write(buf[:n]); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
		}
	}
	http.Error(w, "no replica answers", http.StatusBadGateway)
}

// startReplicas starts n hxchat processes on one fresh PostgreSQL schema,
// talking to up, with leases of ttl; args are more flags for each.
func startReplicas(t *testing.T, up *llmtest.Server, n int, ttl time.Duration, args ...string) []*child {
	t.Helper()
	return startReplicasOn(t, up, pgtest.URL(t), n, ttl, args...)
}

// startReplicasOn is startReplicas on the database db.
func startReplicasOn(t *testing.T, up *llmtest.Server, db string, n int, ttl time.Duration, args ...string) []*child {
	t.Helper()
	var cs []*child
	for range n {
		cs = append(cs, startChild(t, up, t.TempDir(), append([]string{"-database-url", db, "-lease-ttl", ttl.String()}, args...)...))
	}
	return cs
}

// reader follows an answer's event stream on another goroutine.
type reader struct {
	mu     sync.Mutex
	events []event
	err    error
	done   chan struct{}
}

// follow starts reading path on b from lastID ("" for a snapshot first),
// until the final event or max events.
func follow(b *browser, path, lastID string, max int) *reader {
	rd := &reader{done: make(chan struct{})}
	go func() {
		defer close(rd.done)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, err := b.tryStream(ctx, path, lastID, max, func(ev event) {
			rd.mu.Lock()
			rd.events = append(rd.events, ev)
			rd.mu.Unlock()
		})
		rd.mu.Lock()
		rd.err = err
		rd.mu.Unlock()
	}()
	return rd
}

// got returns the events read so far.
func (rd *reader) got() []event {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return append([]event(nil), rd.events...)
}

// wait waits until the stream has ended and returns its events and error.
func (rd *reader) wait(t *testing.T) ([]event, error) {
	t.Helper()
	select {
	case <-rd.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the stream did not end")
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.events, rd.err
}

// waitEvents waits until rd has read at least n events.
func (rd *reader) waitEvents(t *testing.T, what string, n int) {
	t.Helper()
	waitFor(t, what, func() bool { return len(rd.got()) >= n })
}

// snapshotAt waits until the answer of path stands at position seq, as
// the snapshot of a new reader on b shows it.
func snapshotAt(t *testing.T, b *browser, path string, seq int64) {
	t.Helper()
	want := fmt.Sprintf("%d-%d", answerID(path), seq)
	waitFor(t, "the answer at position "+want, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		evs, err := b.tryStream(ctx, path, "", 1, nil)
		return err == nil && len(evs) == 1 && evs[0].id == want
	})
}

// TestReplicasRelay: three replicas on one PostgreSQL. An answer generated
// on A streams from B with exactly A's events (the same snapshot, ids,
// fragments and final event); a reader that reloads mid-answer and lands on
// C resumes with its Last-Event-ID and gets exactly what it missed; the
// answer as streamed is the answer as a page load on C shows it. Stop
// pressed on B stops the generation on A, and B's readers see it stopped;
// Retry of it on B answers from B, and streams on A.
func TestReplicasRelay(t *testing.T) {
	up := llmtest.NewServer(t)
	gate, gate2 := make(chan struct{}), make(chan struct{})
	defer close(gate2)
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 3},
		llmtest.Reply{Tokens: answerTokens, Gate: gate2, GateAfter: 2},
		llmtest.Reply{Tokens: answerTokens})
	cs := startReplicas(t, up, 3, 2*time.Second)
	jar, _ := cookiejar.New(nil)
	a, b, c := browserAt(t, cs[0].base, jar), browserAt(t, cs[1].base, jar), browserAt(t, cs[2].base, jar)

	conv, events := a.send("", "Which replica answers?")
	snapshotAt(t, a, events, 3)
	onA, onB := follow(a, events, "", 0), follow(b, events, "", 0)
	reload := follow(b, events, "", 1) // reloads after its first event
	onA.waitEvents(t, "the snapshot on A", 1)
	onB.waitEvents(t, "the snapshot on B", 1)
	first, err := reload.wait(t)
	if err != nil || len(first) != 1 {
		t.Fatalf("the reader that reloads: %v %v", first, err)
	}
	for range 3 {
		gate <- struct{}{}
	}
	onA.waitEvents(t, "three more tokens on A", 4)
	// The reader reloads: its browser sends the last id it got, and the
	// load balancer sends it to C.
	resumed := follow(c, events, first[0].id, 0)
	resumed.waitEvents(t, "the resumed stream on C", 1)
	close(gate)

	fromA, errA := onA.wait(t)
	fromB, errB := onB.wait(t)
	rest, errC := resumed.wait(t)
	if errA != nil || errB != nil || errC != nil {
		t.Fatalf("streams: A %v, B %v, C %v", errA, errB, errC)
	}
	if !reflect.DeepEqual(fromB, fromA) {
		t.Errorf("B relayed other events than A sent:\nA %q\nB %q", fromA, fromB)
	}
	if got := append(first, rest...); !reflect.DeepEqual(got, fromA) {
		t.Errorf("reloaded onto C, the reader got:\n%q\nwant %q", got, fromA)
	}
	var d answerDOM
	d.apply(t, fromB)
	if d.html() != rendered(answerText()) || fromB[len(fromB)-1].name != "done" || fromB[len(fromB)-1].data != "done" {
		t.Errorf("streamed from B: %q, last event %+v", d.html(), fromB[len(fromB)-1])
	}
	// The final event keeps the text the stream built (hx-preserve) and
	// brings the rest of the bubble: as a page load on C shows it.
	meta := d.final[strings.Index(d.final, `<div class="meta">`):]
	if _, page := c.get("/c/" + conv); !strings.Contains(page, meta) || !strings.Contains(page, "state-done") ||
		!strings.Contains(page, "こんにちは世界") || strings.Contains(page, "hx-sse:connect") {
		t.Errorf("the page on C does not show the answer as streamed:\n%s\nstreamed %s", page, d.final)
	}

	// The replicas' internal routes are for replicas only: a browser,
	// even the owner's, and a wrong key get 404.
	internal := fmt.Sprintf("%s/_replica/c/%s/m/%d/events", cs[0].base, conv, answerID(events))
	for _, auth := range []string{"", "Bearer 00", "Bearer " + strings.Repeat("0", 64)} {
		req, _ := http.NewRequest("GET", internal, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := a.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("internal stream with Authorization %q: %d, want 404", auth, resp.StatusCode)
		}
	}

	// Stop on B of an answer that A generates.
	_, events = a.send(conv, "And then?")
	snapshotAt(t, a, events, 2)
	onB = follow(b, events, "", 0)
	onB.waitEvents(t, "the snapshot on B", 1)
	mid := answerID(events)
	resp, _ := b.post(fmt.Sprintf("/c/%s/m/%d/stop", conv, mid), nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("Stop on B: %d", resp.StatusCode)
	}
	// Stop answers once the stopped answer is stored: every replica
	// shows it stopped at once.
	if _, page := c.get("/c/" + conv); !strings.Contains(page, "state-stopped") {
		t.Errorf("right after Stop on B, the page on C does not show the answer stopped")
	}
	fromB, err = onB.wait(t)
	if err != nil || fromB[len(fromB)-1].data != "stopped" {
		t.Fatalf("B's reader after Stop: %v, %q", err, fromB)
	}
	d = answerDOM{}
	d.apply(t, fromB)
	if d.html() != rendered(strings.Join(answerTokens[:2], "")) {
		t.Errorf("stopped answer on B: %q", d.html())
	}

	// Retry on B: a new version, generated by B, streamed from A.
	resp, body := b.post(fmt.Sprintf("/c/%s/m/%d/retry", conv, mid), nil)
	m := reConnect.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("Retry on B: %d %s", resp.StatusCode, body)
	}
	fromA = a.stream(strings.ReplaceAll(m[1], "&amp;", "&"), "", 0)
	d = answerDOM{}
	d.apply(t, fromA)
	if d.html() != rendered(answerText()) || fromA[len(fromA)-1].data != "done" {
		t.Errorf("Retry on B streamed from A: %q", d.html())
	}
}

// TestReplicasKill: kill -9 of the replica that generates an answer, while
// readers on B and C follow it. Within the leases' TTL (and a sweep) both
// readers get the answer's end: interrupted, with the text of its last
// checkpoint, and Retry; so does a page load through the load balancer,
// which skips the dead replica. Retry then answers from a live one.
func TestReplicasKill(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	defer close(gate)
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 3}, llmtest.Reply{Tokens: answerTokens})
	const ttl = 2 * time.Second
	cs := startReplicas(t, up, 3, ttl)
	jar, _ := cookiejar.New(nil)
	a, b, c := browserAt(t, cs[0].base, jar), browserAt(t, cs[1].base, jar), browserAt(t, cs[2].base, jar)
	lb := newRoundRobin(t, cs[0].base, cs[1].base, cs[2].base)
	viaLB := browserAt(t, lb.URL(), jar)

	conv, events := a.send("", "Will you survive?")
	snapshotAt(t, a, events, 3)
	onB, onC := follow(b, events, "", 0), follow(c, events, "", 0)
	onB.waitEvents(t, "the snapshot on B", 1)
	onC.waitEvents(t, "the snapshot on C", 1)
	text := strings.Join(answerTokens[:3], "")
	// The text is checkpointed within a second: a page on C, which reads
	// the store, shows it.
	waitFor(t, "the checkpoint", func() bool {
		_, page := c.get("/c/" + conv)
		return strings.Contains(page, rendered(text))
	})

	cs[0].cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	cs[0].wait()
	for name, rd := range map[string]*reader{"B": onB, "C": onC} {
		evs, err := rd.wait(t)
		took := time.Since(killed)
		if err != nil {
			t.Fatalf("%s's reader: %v", name, err)
		}
		t.Logf("%s's reader got the answer's end %v after the kill (TTL %v)", name, took.Round(time.Millisecond), ttl)
		if limit := ttl + ttl/5 + 2*time.Second; took > limit {
			t.Errorf("%s's reader got the end %v after the kill, later than %v", name, took, limit)
		}
		var d answerDOM
		d.apply(t, evs)
		last := evs[len(evs)-1]
		if last.name != "done" || last.data != "interrupted" || d.html() != rendered(text) ||
			!strings.Contains(d.final, "state-interrupted") || !strings.Contains(d.final, "/retry") {
			t.Errorf("%s's reader: %q, last %+v, final %s", name, d.html(), last, d.final)
		}
	}
	for range 3 { // A is skipped however the balancer turns
		if code, page := viaLB.get("/c/" + conv); code != 200 || !strings.Contains(page, "state-interrupted") {
			t.Errorf("page through the balancer after the kill: %d", code)
		}
	}

	mid := answerID(events)
	resp, body := viaLB.post(fmt.Sprintf("/c/%s/m/%d/retry", conv, mid), nil)
	m := reConnect.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("Retry after the kill: %d %s", resp.StatusCode, body)
	}
	var d answerDOM
	d.apply(t, viaLB.stream(strings.ReplaceAll(m[1], "&amp;", "&"), "", 0))
	if d.html() != rendered(answerText()) {
		t.Errorf("Retry after the kill: %q", d.html())
	}
}

// TestReplicasDrain: SIGTERM to the replica that generates an answer, a
// rolling deploy. Its own readers are told to reconnect (their streams end
// without the final event) and resume on B with their Last-Event-ID; B's
// readers, relayed from A, go on. The answer ends during the drain: every
// reader has all of it, exactly once, with no gap. A refuses new turns with
// 503 while it drains, and exits 0.
func TestReplicasDrain(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 3})
	cs := startReplicas(t, up, 2, 2*time.Second, "-drain", "20s")
	jar, _ := cookiejar.New(nil)
	a, b := browserAt(t, cs[0].base, jar), browserAt(t, cs[1].base, jar)

	conv, events := a.send("", "Deploy now?")
	snapshotAt(t, a, events, 3)
	onA, onB := follow(a, events, "", 0), follow(b, events, "", 0)
	onA.waitEvents(t, "the snapshot on A", 1)
	onB.waitEvents(t, "the snapshot on B", 1)
	gate <- struct{}{}
	onA.waitEvents(t, "a token on A", 2)
	onB.waitEvents(t, "a token on B", 2)

	cs[0].cmd.Process.Signal(syscall.SIGTERM)
	before, err := onA.wait(t)
	if err == nil || len(before) != 2 {
		t.Fatalf("A's reader on SIGTERM: %d events, %v; want its stream ended without the final event", len(before), err)
	}
	waitFor(t, "A to refuse new turns", func() bool {
		resp, _, err := a.tryPost("/c/"+conv+"/messages", url.Values{"message": {"one more"}})
		return err == nil && resp.StatusCode == http.StatusServiceUnavailable
	})
	// A stream request that still lands on A is refused, so that the
	// browser tries again, elsewhere.
	if _, err := a.tryStream(t.Context(), events, before[len(before)-1].id, 0, nil); err == nil || !strings.Contains(err.Error(), ": 503") {
		t.Errorf("a stream request to the draining replica: %v, want 503", err)
	}
	// The reader's browser reconnects; the balancer sends it to B.
	after := follow(b, events, before[len(before)-1].id, 0)
	time.Sleep(200 * time.Millisecond) // the rest is generated while it is connected, or before
	close(gate)

	rest, err := after.wait(t)
	if err != nil {
		t.Fatalf("A's reader, resumed on B: %v", err)
	}
	fromB, err := onB.wait(t)
	if err != nil {
		t.Fatalf("B's reader: %v", err)
	}
	if got := append(before, rest...); !reflect.DeepEqual(got, fromB) {
		t.Errorf("A's reader, moved to B, got\n%q\nB's reader got\n%q", got, fromB)
	}
	var d answerDOM
	d.apply(t, fromB)
	if d.html() != rendered(answerText()) || fromB[len(fromB)-1].data != "done" {
		t.Errorf("B's reader: %q, last %+v", d.html(), fromB[len(fromB)-1])
	}
	if err := cs[0].wait(); err != nil {
		t.Errorf("A's exit after SIGTERM: %v", err)
	}
	if _, page := b.get("/c/" + conv); !strings.Contains(page, "こんにちは世界") || strings.Contains(page, "state-interrupted") {
		t.Error("after the drain, B's page does not show the whole answer")
	}
}

// TestReplicasLimit: the limit of answers one session may have running
// holds across the replicas: with one answer of the session running on A,
// a message to B is refused (429, the text stays in the box); once it has
// ended, B takes the next. Deleting the conversation on B stops an answer
// that A generates.
func TestReplicasLimit(t *testing.T) {
	up := llmtest.NewServer(t)
	gate, gate2 := make(chan struct{}), make(chan struct{})
	defer close(gate2)
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 1},
		llmtest.Reply{Tokens: answerTokens},
		llmtest.Reply{Tokens: answerTokens, Gate: gate2, GateAfter: 1})
	cs := startReplicas(t, up, 2, 2*time.Second, "-max-answers-per-session", "1")
	jar, _ := cookiejar.New(nil)
	a, b := browserAt(t, cs[0].base, jar), browserAt(t, cs[1].base, jar)

	_, events := a.send("", "The first")
	resp, _, err := b.tryPost("/c", url.Values{"message": {"The second"}})
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second answer of the session on B: %v %v, want 429", resp.StatusCode, err)
	}
	close(gate)
	a.stream(events, "", 0)
	conv, events := b.send("", "The second, later")
	b.stream(events, "", 0)

	// An answer generated on A, its conversation deleted on B.
	_, events = a.send(conv, "The third")
	snapshotAt(t, a, events, 1)
	onA := follow(a, events, "", 0)
	onA.waitEvents(t, "the snapshot on A", 1)
	if resp, _ := b.post("/c/"+conv+"/delete", nil); resp.StatusCode >= 300 {
		t.Fatalf("delete on B: %d", resp.StatusCode)
	}
	evs, err := onA.wait(t)
	if err != nil || evs[len(evs)-1].data != "stopped" {
		t.Errorf("the answer of a conversation deleted on B: %v, last %+v", err, evs[len(evs)-1])
	}
}

// TestBrowserReplicas: a real browser behind the round-robin balancer of
// three replicas, without stickiness: the message is taken by one replica,
// its stream served by another, and the reload mid-answer lands on others
// again; the page shows the text so far, then the whole answer, exactly
// once, in one bubble.
func TestBrowserReplicas(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	tokens := []string{"alpha ", "beta ", "gamma\n", "delta ", "epsilon ", "zeta ", "eta\n", "theta ", "iota"}
	up.Reply(llmtest.Reply{Tokens: tokens, Gate: gate, GateAfter: 4})
	cs := startReplicas(t, up, 3, 2*time.Second)
	lb := newRoundRobin(t, cs[0].base, cs[1].base, cs[2].base)
	ctx, log := chrome(t)

	do(t, ctx,
		chromedp.Navigate(lb.URL()+"/"),
		chromedp.WaitVisible(chromedp.ID("message")),
		chromedp.SendKeys(chromedp.ID("message"), "reload onto another replica"),
		pressEnter(),
	)
	reloadMidAnswer(t, ctx, tokens, gate)
	if by := lb.servedBy("/events"); len(by) < 2 {
		t.Errorf("the answer's streams were served by %v: the test did not cross replicas", by)
	}
	log.check(t)
}

// TestReplicasStoreWrites: the writes of replicas to PostgreSQL do not grow
// with the tokens. Ten answers of 150 tokens each (1,500 tokens, at about
// 1,000 a second) are generated on A and read on B through the relay; the
// rows that the whole run updated (counted by PostgreSQL for the test's
// schema, once the replicas have exited and their connections reported
// them) are the checkpoints (one row an answer a second), the ends of the
// answers, and the heartbeats (one row per replica every fifth of the
// TTL), all far fewer than the tokens.
func TestReplicasStoreWrites(t *testing.T) {
	const answers, tokens = 10, 150
	up := llmtest.NewServer(t)
	var toks []string
	for i := range tokens {
		toks = append(toks, fmt.Sprintf("t%d ", i))
	}
	for range answers {
		up.Reply(llmtest.Reply{Tokens: toks, Delay: 10 * time.Millisecond})
	}
	db := pgtest.URL(t)
	const ttl = 2 * time.Second
	start := time.Now()
	cs := startReplicasOn(t, up, db, 2, ttl)
	var readers []*reader
	for range answers {
		jar, _ := cookiejar.New(nil)
		_, events := browserAt(t, cs[0].base, jar).send("", "Count to 150.")
		readers = append(readers, follow(browserAt(t, cs[1].base, jar), events, "", 0))
	}
	relayed := 0
	for _, rd := range readers {
		evs, err := rd.wait(t)
		if err != nil {
			t.Fatal(err)
		}
		var d answerDOM
		d.apply(t, evs)
		if d.html() != rendered(strings.Join(toks, "")) {
			t.Errorf("relayed answer: %q", d.html())
		}
		relayed += len(evs)
	}
	for _, c := range cs {
		c.cmd.Process.Signal(syscall.SIGTERM)
		if err := c.wait(); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)

	conn, err := pgx.Connect(t.Context(), pgtest.ConnURL(t, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	upd := map[string]int64{}
	// A backend reports its counts when it exits; the server's stats may
	// take a moment more.
	waitFor(t, "the statistics", func() bool {
		rows, err := conn.Query(t.Context(), "SELECT relname, n_tup_upd FROM pg_stat_user_tables WHERE schemaname = current_schema()")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			var n int64
			rows.Scan(&name, &n)
			upd[name] = n
		}
		return rows.Err() == nil && upd["replicas"] > 0
	})
	t.Logf("%d tokens generated, %d events relayed, in %v: %d message rows updated, %d heartbeats", answers*tokens, relayed, took.Round(time.Millisecond), upd["messages"], upd["replicas"])
	secs := int64(took/time.Second) + 1
	if max := answers*secs + answers; upd["messages"] > max { // checkpoints, one an answer a second, and the ends
		t.Errorf("%d message rows updated in %ds for %d answers, more than %d: the writes grow with the tokens", upd["messages"], secs, answers, max)
	}
	if max := 2 * (secs*int64(time.Second/(ttl/5)) + 1); upd["replicas"] > max {
		t.Errorf("%d heartbeats of 2 replicas in %ds, more than %d", upd["replicas"], secs, max)
	}
}

// TestReplicasStartup: a replica that starts while another generates an
// answer leaves that answer alone (on SQLite, start-up marks every streaming
// answer interrupted; here only a sweep takes those of silent replicas): the
// answer goes on, and the new replica relays it to the end.
func TestReplicasStartup(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 3})
	db := pgtest.URL(t)
	const ttl = 1 * time.Second
	a := startReplicasOn(t, up, db, 1, ttl)[0]
	jar, _ := cookiejar.New(nil)
	conv, events := browserAt(t, a.base, jar).send("", "Still there?")
	snapshotAt(t, browserAt(t, a.base, jar), events, 3)

	b := startReplicasOn(t, up, db, 1, ttl)[0]
	onB := follow(browserAt(t, b.base, jar), events, "", 0)
	onB.waitEvents(t, "the snapshot on B", 1)
	time.Sleep(2 * ttl) // B's sweeps run meanwhile
	close(gate)
	evs, err := onB.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	var d answerDOM
	d.apply(t, evs)
	if d.html() != rendered(answerText()) || evs[len(evs)-1].data != "done" {
		t.Errorf("the answer that ran while B started: %q, last %+v", d.html(), evs[len(evs)-1])
	}
	if b.logged("interrupted") {
		t.Errorf("B interrupted answers at start-up or in a sweep")
	}
	if _, page := browserAt(t, b.base, jar).get("/c/" + conv); !strings.Contains(page, "state-done") {
		t.Error("B's page does not show the answer done")
	}
}

// TestReplicasRestart: the only replica is killed mid-answer and started
// again after the TTL: before it serves, it has stored the answer it left
// as interrupted, with its checkpointed text, as a process on SQLite does
// at start-up.
func TestReplicasRestart(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	defer close(gate)
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 3})
	db := pgtest.URL(t)
	const ttl = time.Second
	a := startReplicasOn(t, up, db, 1, ttl)[0]
	jar, _ := cookiejar.New(nil)
	b := browserAt(t, a.base, jar)
	conv, events := b.send("", "Crash now?")
	snapshotAt(t, b, events, 3)
	time.Sleep(1500 * time.Millisecond) // a checkpoint
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.wait()
	time.Sleep(ttl + 200*time.Millisecond)

	a = startReplicasOn(t, up, db, 1, ttl)[0]
	took := -1
	a.mu.Lock()
	for i, l := range a.log {
		if strings.Contains(l, "answers of silent replicas taken") && strings.Contains(l, "answers=1") {
			took = i
		}
		if strings.Contains(l, "hxchat is ready") && (took < 0 || took > i) {
			t.Errorf("ready before the answer left by the crash was taken")
		}
	}
	a.mu.Unlock()
	b.base = a.base
	_, page := b.get("/c/" + conv)
	if !strings.Contains(page, "state-interrupted") || !strings.Contains(page, rendered(strings.Join(answerTokens[:3], ""))) {
		t.Errorf("after the restart the page does not show the answer interrupted with its text:\n%s", page)
	}
}
