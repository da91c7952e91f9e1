package main

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/markdown"
	"github.com/hxchat/hxchat/web"
)

// TestMain lets a test run this package's program as a child process (for
// kill -9 tests): with HXCHAT_TEST_MAIN=1 the test binary is hxchat.
//
// Otherwise it runs the tests and fails them if any goroutine outlives them:
// an answer's generation or stream, a store's pools, a server, a child's
// reader. One library goroutine is let be: regexp2's clock (under the code
// highlighter, whose patterns have a 250ms match timeout) runs for about a
// second after the last match with a timeout in the process, then ends by
// itself; it belongs to no app and would fail a run of a single test that
// highlights code (go test -run TestDemoModel).
func TestMain(m *testing.M) {
	if os.Getenv("HXCHAT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2/v2.runClock"))
}

// testConfig is a configuration for a test app that talks to the fake
// upstream up (OpenAI shape; nil for none) and keeps its data in dir.
func testConfig(up *llmtest.Server, dir string) config.Config {
	base := ""
	if up != nil {
		base = up.OpenAIBaseURL()
	}
	return config.Config{
		Addr:         "127.0.0.1:0",
		DataDir:      dir,
		Drain:        2 * time.Second,
		IdleTimeout:  10 * time.Second,
		LogLevel:     slog.LevelDebug,
		LogFormat:    "text",
		SystemPrompt: "You are a test assistant.",
		OpenAI:       config.OpenAI{APIKey: "sk-test-key", BaseURL: base, Model: "gpt-test"},
	}
}

// startApp runs the whole program, as main does, and closes it when the test
// ends (if the test did not close it itself).
func startApp(t *testing.T, cfg config.Config) *Main {
	t.Helper()
	m := NewMain(cfg, t.Output())
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// browser is an HTTP client with its own cookies: one user.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, m *Main) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: "http://" + m.Addr(), c: &http.Client{Jar: jar}}
}

// get fetches a page and returns its status and body.
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	code, body, err := b.tryGet(path)
	if err != nil {
		b.t.Fatal(err)
	}
	return code, body
}

// tryGet is get for any goroutine: it returns its error instead of failing
// the test.
func (b *browser) tryGet(path string) (int, string, error) {
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// post sends a form as htmx does and returns the response.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, body, err := b.tryPost(path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, body
}

// tryPost is post for any goroutine: it returns its error instead of
// failing the test.
func (b *browser) tryPost(path string, form url.Values) (*http.Response, string, error) {
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

var (
	reConnect = regexp.MustCompile(`hx-sse:connect="([^"]+)"`)
)

// send posts a message (to a new conversation when conv is "") and returns
// the conversation id and the answer's event stream URL.
func (b *browser) send(conv, text string) (convID, events string) {
	b.t.Helper()
	convID, events, err := b.trySend(conv, text)
	if err != nil {
		b.t.Fatal(err)
	}
	return convID, events
}

// trySend is send for any goroutine: it returns its error instead of
// failing the test.
func (b *browser) trySend(conv, text string) (convID, events string, err error) {
	path := "/c"
	if conv != "" {
		path = "/c/" + conv + "/messages"
	}
	resp, body, err := b.tryPost(path, url.Values{"message": {text}})
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != 200 {
		return "", "", fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	m := reConnect.FindStringSubmatch(body)
	if m == nil {
		return "", "", fmt.Errorf("POST %s: no event stream in %s", path, body)
	}
	convID = conv
	if conv == "" {
		convID = strings.TrimPrefix(resp.Header.Get("HX-Push-Url"), "/c/")
	}
	return convID, html.UnescapeString(m[1]), nil
}

// event is one Server-Sent Event as the browser parses it.
type event struct{ name, id, data string }

// stream reads the events of url, sending lastID as Last-Event-ID when set,
// until the final event, or until it has read max events (then it hangs up).
func (b *browser) stream(path, lastID string, max int) []event {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := b.tryStream(ctx, path, lastID, max, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return evs
}

// tryStream is stream for any goroutine, ended by ctx: it returns its error
// (with the events read so far) instead of failing the test. It calls each,
// when not nil, with every event as it arrives.
func (b *browser) tryStream(ctx context.Context, path, lastID string, max int, each func(event)) ([]event, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+path, nil)
	req.Header.Set("Accept", "text/html, text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var evs []event
	var ev event
	has, hasData := false, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if has {
				evs = append(evs, ev)
				if each != nil {
					each(ev)
				}
				if ev.name == "done" || (max > 0 && len(evs) == max) {
					return evs, nil
				}
			}
			ev, has, hasData = event{}, false, false
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.name, has = value, true
		case "id":
			ev.id, has = value, true
		case "data":
			if hasData {
				ev.data += "\n"
			}
			ev.data += value
			has, hasData = true, true
		}
	}
	return evs, fmt.Errorf("GET %s: stream ended without the final event (err %v) after %d events", path, sc.Err(), len(evs))
}

// answerDOM applies the fragments of SSE events as the page does (see
// web.AnswerReader): html is the answer's text as shown, final the finished
// article once the final event arrived.
type answerDOM struct {
	r     web.AnswerReader
	final string
}

func (d *answerDOM) apply(t *testing.T, evs []event) {
	t.Helper()
	for _, ev := range evs {
		if ev.name != "" {
			continue
		}
		if err := d.r.Apply([]byte(ev.data)); err != nil {
			t.Fatalf("event %s: %v: %q", ev.id, err, ev.data)
		}
		d.final = d.r.Final
	}
}

// html returns the answer's HTML as the page shows it.
func (d *answerDOM) html() string { return d.r.HTML() }

// mdr renders Markdown as hxchat does, for expected answers.
var mdr = markdown.New()

// rendered is the HTML of text as a reader's copy of it serializes (see
// answerDOM.html).
func rendered(text string) string {
	var d markdown.DOM
	d.Set(mdr.Render(text))
	return d.HTML()
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
