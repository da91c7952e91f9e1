package main

import (
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/postgres/pgtest"
)

// TestPostgres: the whole app on PostgreSQL (a fresh schema of the test
// database). A message is answered and streamed; a reload mid-answer shows
// the answer streaming, one afterwards shows it whole; the sidebar's search
// finds it folded (full-width ＨＸＣＨＡＴ by hxchat); nothing is written to
// the data directory. Stopped mid-answer, the app stores the answer as
// interrupted with its text; a new process on the same database shows
// everything, and the next turn sends the model the history.
func TestPostgres(t *testing.T) {
	up := llmtest.NewServer(t)
	gate, gate2 := make(chan struct{}), make(chan struct{})
	defer close(gate2)
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 3},
		llmtest.Reply{Tokens: answerTokens, Gate: gate2, GateAfter: 2},
		llmtest.Reply{Tokens: answerTokens})
	dir := t.TempDir()
	cfg := testConfig(up, dir)
	cfg.DatabaseURL = config.Secret(pgtest.URL(t))
	cfg.Drain = 100 * time.Millisecond
	m := startApp(t, cfg)
	b := newBrowser(t, m)

	conv, events := b.send("", "What is ＨＸＣＨＡＴ on PostgreSQL?")
	waitFor(t, "three tokens", func() bool { return seqOf(m, answerID(events)) >= 3 })
	if code, page := b.get("/c/" + conv); code != 200 || !strings.Contains(page, "ＨＸＣＨＡＴ") || !strings.Contains(page, "hx-sse:connect") {
		t.Fatalf("reload mid-answer: %d, streaming answer: %v", code, strings.Contains(page, "hx-sse:connect"))
	}
	close(gate)
	var d answerDOM
	d.apply(t, b.stream(events, "", 0))
	if d.html() != rendered(answerText()) {
		t.Fatalf("streamed %q, want %q", d.html(), rendered(answerText()))
	}
	code, page := b.get("/c/" + conv)
	if code != 200 || strings.Contains(page, "hx-sse:connect") || !strings.Contains(page, "こんにちは世界") {
		t.Fatalf("reload after the answer: %d\n%s", code, page)
	}
	for q, found := range map[string]bool{"hxchat": true, "ｈｘｃｈａｔ": true, "世界": true, "mysql": false} {
		_, list := b.get("/conversations?q=" + q)
		if strings.Contains(list, "/c/"+conv) != found {
			t.Errorf("search %q: found %v, want %v", q, !found, found)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "hxchat.db")); !os.IsNotExist(err) {
		t.Errorf("an SQLite file in the data directory: %v", err)
	}

	// A second answer is cut short by the shutdown: it is stored
	// interrupted, with its text so far.
	_, events = b.send(conv, "And then?")
	waitFor(t, "two tokens", func() bool { return seqOf(m, answerID(events)) >= 2 })
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	m2 := startApp(t, cfg)
	b.base = "http://" + m2.Addr() // the same browser: its cookie names its session
	_, page = b.get("/c/" + conv)
	for _, want := range []string{"ＨＸＣＨＡＴ", "こんにちは世界", "And then?", "state-interrupted", rendered(strings.Join(answerTokens[:2], ""))} {
		if !strings.Contains(page, want) {
			t.Errorf("page after restart lacks %q", want)
		}
	}
	_, events = b.send(conv, "Once more")
	b.stream(events, "", 0)
	reqs := up.Requests()
	if n := len(reqs[2].Body.Messages); n != 6 { // system, 2 questions, 2 answers, the new one
		t.Errorf("the third request sent %d messages, want 6", n)
	}
}

// TestPostgresProcess: the command itself, given -database-url, keeps its
// data in PostgreSQL (its log says so, the data directory stays empty),
// answers, and stops cleanly on SIGTERM.
func TestPostgresProcess(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: answerTokens})
	dir := t.TempDir()
	c := startChild(t, up, dir, "-database-url", pgtest.URL(t))
	jar, _ := cookiejar.New(nil)
	b := browserAt(t, c.base, jar)
	conv, events := b.send("", "Where do you keep this?")
	var d answerDOM
	d.apply(t, b.stream(events, "", 0))
	if d.html() != rendered(answerText()) {
		t.Errorf("streamed %q", d.html())
	}
	if _, page := b.get("/c/" + conv); !strings.Contains(page, "こんにちは世界") {
		t.Error("the page does not show the answer")
	}
	if !c.logged("store=postgres") {
		t.Error("the log does not say the store is PostgreSQL")
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("the data directory holds %v", entries)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}
