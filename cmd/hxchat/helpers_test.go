package main

import (
	"bufio"
	"context"
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

	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/markdown"
)

// TestMain lets a test run this package's program as a child process (for
// kill -9 tests): with HXCHAT_TEST_MAIN=1 the test binary is hxchat.
func TestMain(m *testing.M) {
	if os.Getenv("HXCHAT_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
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
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// post sends a form as htmx does and returns the response.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var (
	reConnect = regexp.MustCompile(`hx-sse:connect="([^"]+)"`)
	rePartial = regexp.MustCompile(`(?s)<hx-partial hx-target="([^"]+)" hx-swap="([^"]+)">(.*?)</hx-partial>`)
)

// send posts a message (to a new conversation when conv is "") and returns
// the conversation id and the answer's event stream URL.
func (b *browser) send(conv, text string) (convID, events string) {
	b.t.Helper()
	path := "/c"
	if conv != "" {
		path = "/c/" + conv + "/messages"
	}
	resp, body := b.post(path, url.Values{"message": {text}})
	if resp.StatusCode != 200 {
		b.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	m := reConnect.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("POST %s: no event stream in %s", path, body)
	}
	convID = conv
	if conv == "" {
		convID = strings.TrimPrefix(resp.Header.Get("HX-Push-Url"), "/c/")
	}
	return convID, html.UnescapeString(m[1])
}

// event is one Server-Sent Event as the browser parses it.
type event struct{ name, id, data string }

// stream reads the events of url, sending lastID as Last-Event-ID when set,
// until the final event, or until it has read max events (then it hangs up).
func (b *browser) stream(path, lastID string, max int) []event {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+path, nil)
	req.Header.Set("Accept", "text/html, text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
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
				if ev.name == "done" || (max > 0 && len(evs) == max) {
					return evs
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
	b.t.Fatalf("GET %s: stream ended without the final event (err %v) after %d events", path, sc.Err(), len(evs))
	return nil
}

// answerDOM applies the partials of SSE events the way htmx does, on a
// simplified DOM: the HTML of the answer (#mN-done + #mN-tail) and, once the
// final event arrives, the final bubble's HTML.
type answerDOM struct {
	done, tail, final string
}

func (d *answerDOM) apply(t *testing.T, evs []event) {
	t.Helper()
	for _, ev := range evs {
		if ev.name != "" {
			continue
		}
		for _, p := range rePartial.FindAllStringSubmatch(ev.data, -1) {
			target, swap, body := p[1], p[2], p[3]
			switch {
			case strings.HasSuffix(target, "-done") && swap == "beforeend":
				d.done += body
			case strings.HasSuffix(target, "-tail") && swap == "innerHTML":
				d.tail = body
			case strings.HasSuffix(target, "-text") && swap == "innerHTML":
				d.done, d.tail = split(body)
			case swap == "outerHTML":
				d.final = body
				d.done, d.tail = split(body)
			default:
				t.Fatalf("unexpected partial %s %s", target, swap)
			}
		}
	}
}

// html returns the answer's HTML as the page shows it.
func (d *answerDOM) html() string { return d.done + d.tail }

var reSplit = regexp.MustCompile(`(?s)<div id="m\d+-done">(.*)</div><div id="m\d+-tail">(.*?)</div>`)

// split returns the contents of an answer's done and tail elements in h.
func split(h string) (done, tail string) {
	m := reSplit.FindStringSubmatch(h)
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

// mdr renders Markdown as hxchat does, for expected answers.
var mdr = markdown.New()

func rendered(text string) string { return string(mdr.Render(text)) }

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
