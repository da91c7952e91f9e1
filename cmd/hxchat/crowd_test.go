//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/markdown"
	"github.com/hxchat/hxchat/sqlite"
	"github.com/hxchat/hxchat/web"
)

// The tests of this file run hxchat as a child process with many browsers at
// once: kill -9 and SIGTERM while dozens or hundreds of answers stream.

// crowd is n browsers, each with its own cookies (so its own session), that
// share one transport with room for a connection each.
type crowd struct {
	t        *testing.T
	browsers []*browser
	jars     []http.CookieJar
	tr       *http.Transport
}

func newCrowd(t *testing.T, base string, n int) *crowd {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConns = 0 // no limit
	tr.MaxIdleConnsPerHost = n + 16
	t.Cleanup(tr.CloseIdleConnections)
	c := &crowd{t: t, tr: tr}
	for range n {
		jar, _ := cookiejar.New(nil)
		c.jars = append(c.jars, jar)
		c.browsers = append(c.browsers, &browser{t: t, base: base, c: &http.Client{Jar: jar, Transport: tr}})
	}
	return c
}

// at returns the crowd's browsers, with their cookies, pointed at another
// server (the same data after a restart).
func (c *crowd) at(base string) []*browser {
	out := make([]*browser, len(c.browsers))
	for i, jar := range c.jars {
		out[i] = &browser{t: c.t, base: base, c: &http.Client{Jar: jar, Transport: c.tr}}
	}
	return out
}

// each runs f for every browser, at most par at once, and fails the test
// with the errors f returned.
func (c *crowd) each(par int, f func(i int, b *browser) error) {
	c.t.Helper()
	errs := make([]error, len(c.browsers))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, b := range c.browsers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f(i, b)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatal(err)
	}
}

// question is the message browser i sends: its own, with characters that
// HTML escapes.
func question(i int) string { return fmt.Sprintf("question %d <from> browser %d & co", i, i) }

// raiseFileLimit makes sure this process, and the children it starts, may
// open need files (sockets): it raises the soft limit, failing the test
// when the hard limit is lower.
func raiseFileLimit(t *testing.T, need uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		t.Fatalf("this test needs %d open files; the hard limit is %d (ulimit -Hn)", need, lim.Max)
	}
	old := lim
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

var reRetry = regexp.MustCompile(`hx-post="([^"]+/retry)"`)

// TestKillManyAndRestart: kill -9 while 50 browsers, each in its own
// session, wait for an answer that has streamed text and been checkpointed,
// and some of which have streamed more since. After a restart on the same
// data every question is there, every answer shows the text of its last
// checkpoint (not empty, a prefix of what the model sent), marked
// interrupted with Retry; the database is sound; Retry of one works.
func TestKillManyAndRestart(t *testing.T) {
	const n = 50
	raiseFileLimit(t, 4*n+256)
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	defer close(gate)
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 3})
	dir := t.TempDir()
	c := startChild(t, up, dir)
	cr := newCrowd(t, c.base, n)

	convs := make([]string, n)
	cr.each(10, func(i int, b *browser) (err error) {
		convs[i], _, err = b.trySend("", question(i))
		return err
	})
	// Every answer streams three tokens, up to the gate, and shows them.
	held := "Hello, &lt;b&gt;world&lt;/b&gt;"
	cr.each(10, func(i int, b *browser) error {
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, page, err := b.tryGet("/c/" + convs[i])
			if err != nil {
				return err
			}
			if code == 200 && strings.Contains(page, held) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("browser %d: the answer did not show its first tokens: %d\n%s", i, code, page)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	time.Sleep(2 * time.Second) // a checkpoint interval (1s) and more
	// Half of the answers' worth of tokens more (any answer may take any),
	// which the next checkpoint may or may not save before the kill.
	for range n / 2 {
		gate <- struct{}{}
	}
	time.Sleep(100 * time.Millisecond)
	c.cmd.Process.Signal(syscall.SIGKILL)
	if err := c.wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the child exited with %v, want killed", err)
	}

	up2 := llmtest.NewServer(t)
	up2.Reply(llmtest.Reply{Tokens: answerTokens})
	m := startApp(t, testConfig(up2, dir))
	ctx := context.Background()
	if err := m.store.(*sqlite.Store).Integrity(ctx); err != nil {
		t.Errorf("integrity after kill -9: %v", err)
	}
	checkpointed := strings.Join(answerTokens[:3], "")
	after := cr.at("http://" + m.Addr())
	pages := make([]string, n)
	cr.each(10, func(i int, _ *browser) (err error) {
		var code int
		code, pages[i], err = after[i].tryGet("/c/" + convs[i])
		if err == nil && code != 200 {
			err = fmt.Errorf("browser %d after restart: %d", i, code)
		}
		return err
	})
	for i, page := range pages {
		msgs, err := m.store.Messages(ctx, convs[i])
		if err != nil || len(msgs) != 2 {
			t.Errorf("browser %d: messages after restart: %+v %v", i, msgs, err)
			continue
		}
		if u := msgs[0]; u.Role != hxchat.RoleUser || u.Content != question(i) || u.State != hxchat.StateDone {
			t.Errorf("browser %d: question after restart: %+v", i, u)
		}
		a := msgs[1]
		if a.Role != hxchat.RoleAssistant || a.State != hxchat.StateInterrupted {
			t.Errorf("browser %d: answer after restart: %+v", i, a)
		}
		if !strings.HasPrefix(a.Content, checkpointed) || !strings.HasPrefix(answerText(), a.Content) {
			t.Errorf("browser %d: answer kept %q: want the %q checkpointed before the kill, and no more than the model sent", i, a.Content, checkpointed)
		}
		if !strings.Contains(page, html.EscapeString(question(i))) {
			t.Errorf("browser %d: the page lacks the question", i)
		}
		body, _ := web.AnswerBody([]byte(page), fmt.Sprintf("m%d", a.ID))
		var shown markdown.DOM
		shown.Set(body)
		if shown.HTML() != rendered(a.Content) {
			t.Errorf("browser %d: the page shows %q, want %q", i, shown.HTML(), rendered(a.Content))
		}
		for _, want := range []string{"state-interrupted", "Interrupted", "/retry"} {
			if !strings.Contains(page, want) {
				t.Errorf("browser %d: the page lacks %q", i, want)
			}
		}
		if strings.Contains(page, "hx-sse:connect") {
			t.Errorf("browser %d: an interrupted answer still opens a stream", i)
		}
		if other := question((i + 1) % n); strings.Contains(page, html.EscapeString(other)) {
			t.Errorf("browser %d sees another session's question %q", i, other)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Retry of one of them generates it again, on the restarted server.
	b := after[n/2]
	retry := reRetry.FindStringSubmatch(pages[n/2])
	if retry == nil {
		t.Fatal("no Retry")
	}
	resp, body := b.post(retry[1], nil)
	if resp.StatusCode != 200 {
		t.Fatalf("retry: %d %s", resp.StatusCode, body)
	}
	next := reConnect.FindStringSubmatch(body)
	if next == nil {
		t.Fatalf("the retried answer does not stream: %s", body)
	}
	evs := b.stream(html.UnescapeString(next[1]), "", 0)
	var d answerDOM
	d.apply(t, evs)
	if d.html() != rendered(answerText()) || !strings.Contains(d.final, "state-done") {
		t.Errorf("retried answer %q, final %s", d.html(), d.final)
	}
	sent := up2.Requests()
	if len(sent) != 1 {
		t.Fatalf("the model got %d requests for one retry", len(sent))
	}
	// The child had no system prompt; the cut answer is not history.
	if ms := sent[0].Body.Messages; len(ms) != 1 || ms[0].Role != "user" || ms[0].Content != question(n/2) {
		t.Errorf("retry sent %+v, want the question alone", ms)
	}
	_, page := b.get("/c/" + convs[n/2])
	if strings.Count(page, `class="msg assistant`) != 1 || !strings.Contains(page, "state-done") || strings.Contains(page, "state-interrupted") {
		t.Errorf("after retry the page should hold one finished answer:\n%s", page)
	}
}

// TestSIGTERMManyStreams: SIGTERM while 200 browsers, each in its own
// session, follow the event stream of an answer. After the signal the model
// finishes half of the answers at once; the other half go on streaming,
// slowly, past the drain time. Every stream gets its final event within the
// drain time (plus a margin); nothing is lost: every answer is stored done
// with its whole text, or interrupted with exactly the text its stream had
// shown; the database is sound; the process exits 0.
func TestSIGTERMManyStreams(t *testing.T) {
	const (
		n      = 200
		drain  = 2 * time.Second
		margin = 3 * time.Second // storing and ending 200 answers under -race on a small machine
	)
	raiseFileLimit(t, 4*n+256)
	finishing := []string{"Finishing", " answer", ", then ", "the **rest** ", "of it."}
	// 5 tokens a second, in paragraphs of five words: 24 s, far past the
	// drain. (Faster, 100 answers would keep 2 cores busy under -race, and
	// the answers the model finishes might not be read within the drain.)
	slow := []string{"Slow", " answer"}
	for i := range 100 {
		slow = append(slow, fmt.Sprintf(" w%d", i))
		if i%5 == 4 {
			slow = append(slow, "\n\n")
		}
	}
	finish, release := make(chan struct{}), make(chan struct{})
	up := llmtest.NewServer(t)
	for i := range n {
		if i%2 == 0 {
			up.Reply(llmtest.Reply{Tokens: finishing, Gate: finish, GateAfter: 2})
		} else {
			up.Reply(llmtest.Reply{Tokens: slow, Gate: release, GateAfter: 2, Delay: 200 * time.Millisecond})
		}
	}
	dir := t.TempDir()
	c := startChild(t, up, dir, "-drain", drain.String())
	cr := newCrowd(t, c.base, n)

	convs, events := make([]string, n), make([]string, n)
	cr.each(20, func(i int, b *browser) (err error) {
		convs[i], events[i], err = b.trySend("", question(i))
		return err
	})

	// A reader follows each answer's stream, as the page does.
	type reading struct {
		evs []event
		err error
		end time.Time // when the final event came
	}
	var (
		reads    = make([]reading, n)
		withText atomic.Int32
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer func() { cancel(); wg.Wait() }() // no reader outlives the test
	for i, b := range cr.browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := false
			r := &reads[i]
			r.evs, r.err = b.tryStream(ctx, events[i], "", 0, func(ev event) {
				if !seen && strings.Contains(ev.data, "answer") {
					seen = true
					withText.Add(1)
				}
			})
			r.end = time.Now()
		}()
	}
	waitLong(t, "every stream to show its first tokens", 30*time.Second, func() bool { return withText.Load() == n })
	if got := len(up.Requests()); got != n {
		t.Fatalf("the model got %d requests, want %d", got, n)
	}

	start := time.Now()
	c.cmd.Process.Signal(syscall.SIGTERM)
	// Once the server drains, the model finishes half of the answers.
	waitLong(t, "the shutdown to start", 10*time.Second, func() bool { return c.logged("shutting down") })
	time.Sleep(100 * time.Millisecond)
	close(finish)
	close(release)

	wg.Wait()
	streamsEnded := time.Since(start)
	err := c.wait()
	exited := time.Since(start)
	if err != nil {
		t.Errorf("exit: %v, want status 0", err)
	}
	t.Logf("after SIGTERM: streams ended in %v, the process exited in %v (drain %v)", streamsEnded.Round(time.Millisecond), exited.Round(time.Millisecond), drain)
	if exited > drain+margin {
		t.Errorf("the process exited %v after SIGTERM, want at most the drain %v and %v", exited, drain, margin)
	}
	if exited < drain-100*time.Millisecond {
		t.Errorf("the process exited %v after SIGTERM: it did not wait the drain %v for the held answers", exited, drain)
	}

	store, err := sqlite.Open(context.Background(), dir+"/hxchat.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Integrity(context.Background()); err != nil {
		t.Errorf("integrity after SIGTERM: %v", err)
	}
	var finished, interrupted int
	for i, r := range reads {
		if r.err != nil {
			t.Errorf("browser %d: %v", i, r.err)
			continue
		}
		msgs, err := store.Messages(context.Background(), convs[i])
		if err != nil || len(msgs) != 2 {
			t.Errorf("browser %d: messages after SIGTERM: %+v %v", i, msgs, err)
			continue
		}
		if u := msgs[0]; u.Content != question(i) || u.State != hxchat.StateDone {
			t.Errorf("browser %d: question after SIGTERM: %+v", i, u)
		}
		a := msgs[1]
		switch {
		case strings.HasPrefix(a.Content, "Finishing"):
			finished++
			if a.State != hxchat.StateDone || a.Content != strings.Join(finishing, "") {
				t.Errorf("browser %d: an answer the model finished during the drain is stored %s with %q", i, a.State, a.Content)
			}
		case strings.HasPrefix(a.Content, "Slow"):
			interrupted++
			if a.State != hxchat.StateInterrupted || a.ErrorCode != hxchat.EShutdown ||
				!strings.HasPrefix(strings.Join(slow, ""), a.Content) || len(a.Content) <= len(strings.Join(slow[:2], "")) {
				t.Errorf("browser %d: an answer that streamed past the drain is stored %s (%s) with %q", i, a.State, a.ErrorCode, a.Content)
			}
		default:
			t.Errorf("browser %d: answer stored %s with %q", i, a.State, a.Content)
		}
		last := r.evs[len(r.evs)-1]
		if last.name != "done" || last.data != string(a.State) {
			t.Errorf("browser %d: the stream ended with %+v, want the final event for %s", i, last, a.State)
		}
		if took := r.end.Sub(start); took > drain+margin {
			t.Errorf("browser %d: the final event came %v after SIGTERM", i, took)
		}
		// What the stream showed before its final events is what is stored.
		var shown, d answerDOM
		for _, ev := range r.evs {
			if ev.name == "" && !strings.Contains(ev.data, `hx-swap="outerHTML"`) {
				shown.apply(t, []event{ev})
			}
		}
		if shown.html() != rendered(a.Content) {
			t.Errorf("browser %d: the stream showed %q, stored %s %q", i, shown.html(), a.State, a.Content)
		}
		d.apply(t, r.evs)
		if d.html() != rendered(a.Content) || !strings.Contains(d.final, "state-"+string(a.State)) {
			t.Errorf("browser %d: the final bubble shows %q, final %s; stored %s %q", i, d.html(), d.final, a.State, a.Content)
		}
		if a.State == hxchat.StateInterrupted && !strings.Contains(d.final, "/retry") {
			t.Errorf("browser %d: the interrupted answer offers no Retry: %s", i, d.final)
		}
	}
	if finished != n/2 || interrupted != n/2 {
		t.Errorf("%d answers finished and %d interrupted, want %d each", finished, interrupted, n/2)
	}
}

// waitLong polls cond until it holds or d passes.
func waitLong(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
