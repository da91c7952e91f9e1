package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// chrome starts Debian's headless chromium for one test. Without it the
// test fails in CI (which installs it) and is skipped elsewhere.
func chrome(t *testing.T) (context.Context, *pageLog) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (.ci/run installs it)")
		}
		t.Skip("chromium not installed: apt-get install -y chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 800),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })

	log := &pageLog{}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			log.requests.Add(1)
			log.add("request " + ev.Request.Method + " " + ev.Request.URL)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				log.problem("console " + string(ev.Type) + ": " + strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			log.problem("exception: " + ev.ExceptionDetails.Text + " " + exceptionDesc(ev.ExceptionDetails))
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				log.problem("log: " + ev.Entry.Text)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	// Start the browser (it enables network, runtime and log events itself).
	do(t, ctx, chromedp.Navigate("about:blank"))
	return ctx, log
}

// pageLog records what the page did: requests, and any error it reported
// (script errors, CSP violations).
type pageLog struct {
	requests atomic.Int64
	mu       sync.Mutex
	lines    []string
	problems []string
}

func (l *pageLog) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }
func (l *pageLog) problem(s string) {
	l.mu.Lock()
	l.problems = append(l.problems, s)
	l.mu.Unlock()
}

// check fails the test for every problem the page reported.
func (l *pageLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.problems {
		t.Errorf("page reported: %s", p)
	}
}

// pressEnter presses Enter as a keyboard does: one keyDown that carries the
// text "\r" (so a default that is not prevented inserts a line break), then
// keyUp. (chromedp's kb.Enter sends a separate char event, which inserts the
// line break even when keydown was prevented; no keyboard does that.)
func pressEnter() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
			p := input.DispatchKeyEventParams{Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
			if typ == input.DispatchKeyEventTypeKeyDown {
				p.Text, p.UnmodifiedText = "\r", "\r"
			}
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// do runs browser actions in order.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// waitText waits until the element's text, without the white space around
// it, satisfies ok.
func waitText(t *testing.T, ctx context.Context, sel, what string, ok func(string) bool) string {
	t.Helper()
	var last string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		// null while no element matches
		v := eval[*string](t, ctx, `(e => e && e.textContent)(document.querySelector(`+jsString(sel)+`))`)
		if v != nil {
			last = strings.TrimSpace(*v)
			if ok(last) {
				return last
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (%s); last text %q", what, sel, last)
	return ""
}

// sendFromNewChat opens a new chat of m and sends text with Enter, without
// waiting for the answer.
func sendFromNewChat(t *testing.T, ctx context.Context, m *Main, text string) {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate("http://"+m.Addr()+"/"),
		chromedp.WaitVisible(chromedp.ID("message")),
		chromedp.SendKeys(chromedp.ID("message"), text),
		pressEnter(),
	)
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// TestBrowserChat: type a message, press Enter, watch the answer stream in;
// the address bar shows the conversation; after the end the stream element
// is gone and the page makes no further requests.
func TestBrowserChat(t *testing.T) {
	up := llmtest.NewServer(t)
	tokens := strings.Fields(strings.Repeat("streaming tokens one by one ", 6))
	for i := range tokens {
		tokens[i] += " "
	}
	up.Reply(llmtest.Reply{Tokens: tokens, Delay: 15 * time.Millisecond})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	base := "http://" + m.Addr()

	do(t, ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("message")),
		chromedp.SendKeys(chromedp.ID("message"), "Hello <browser>"),
		pressEnter(),
	)
	waitText(t, ctx, ".msg.user .text", "the user's bubble", func(s string) bool { return s == "Hello <browser>" })
	// The answer grows: seen part-way, then whole.
	waitText(t, ctx, ".msg.assistant .text", "a partial answer", func(s string) bool { return len(s) > 0 && len(s) < len(strings.Join(tokens, "")) })
	want := strings.Join(tokens, "")
	waitText(t, ctx, ".msg.assistant.state-done .text", "the whole answer", func(s string) bool { return s == strings.TrimSpace(want) })

	path := eval[string](t, ctx, `location.pathname`)
	connectors := eval[int](t, ctx, `document.querySelectorAll('[hx-sse\\:connect]').length`)
	box := eval[string](t, ctx, `document.getElementById('message').value`)
	if !strings.HasPrefix(path, "/c/") || len(path) != len("/c/")+26 {
		t.Errorf("address bar shows %q, want /c/{id}", path)
	}
	if connectors != 0 {
		t.Errorf("%d stream elements left after the end", connectors)
	}
	if box != "" {
		t.Errorf("message box still holds %q after sending", box)
	}
	if side := eval[string](t, ctx, `document.querySelector('#conversations a').textContent`); side != "Hello <browser>" {
		t.Errorf("sidebar lists %q, want the new conversation", side)
	}
	before := log.requests.Load()
	time.Sleep(3 * time.Second)
	if n := log.requests.Load() - before; n != 0 {
		t.Errorf("%d requests in the 3 s after the answer ended, want none", n)
	}
	log.check(t)

	// A reload shows the same conversation.
	do(t, ctx, chromedp.Reload())
	waitText(t, ctx, ".msg.assistant.state-done .text", "the answer after reload", func(s string) bool { return strings.TrimSpace(s) == strings.TrimSpace(want) })
}

// TestBrowserDemo: with no model configured, the page says it runs on the
// offline demo model, and a Japanese question gets a Japanese answer. With
// HXCHAT_SCREENSHOTS=1 it refreshes the README's screenshot.
func TestBrowserDemo(t *testing.T) {
	cfg := testConfig(llmtest.NewServer(t), t.TempDir())
	cfg.OpenAI.APIKey, cfg.OpenAI.BaseURL, cfg.OpenAI.Model = "", "", ""
	cfg.DemoRate = 400
	m := startApp(t, cfg)
	ctx, log := chrome(t)
	do(t, ctx,
		chromedp.Navigate("http://"+m.Addr()+"/"),
		chromedp.WaitVisible(chromedp.ID("message")),
	)
	banner := waitText(t, ctx, ".banner", "the demo banner", func(s string) bool { return s != "" })
	if !strings.Contains(banner, "demo") || !strings.Contains(banner, "AZURE_OPENAI_ENDPOINT") {
		t.Errorf("banner %q does not say how to connect a model", banner)
	}
	// Typed through CDP's text input, as an IME commits text.
	do(t, ctx, chromedp.Focus(chromedp.ID("message")))
	if _, err := chromedp.Run(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: "htmx と SSE でチャットを作るには？"})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, pressEnter())
	answer := waitText(t, ctx, ".msg.assistant.state-done .text", "the demo answer", func(s string) bool { return len(s) > 200 })
	if !strings.Contains(answer, "。") || eval[int](t, ctx, `document.querySelectorAll('.msg.assistant pre.chroma code').length`) != 1 {
		t.Errorf("demo answer is not Japanese with a code block: %q", answer)
	}
	log.check(t)
	if os.Getenv("HXCHAT_SCREENSHOTS") != "" {
		eval[bool](t, ctx, `window.scrollTo(0, 0), true`)
		screenshot(t, ctx, "screenshot.png")
		// Dark and in Japanese, then on a phone.
		eval[bool](t, ctx, `document.cookie = 'hxchat_theme=dark; path=/'; true`)
		eval[bool](t, ctx, `document.querySelector('.lang button').click(), true`)
		waitFor(t, "the Japanese page", func() bool {
			lang, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
			return lang == "ja"
		})
		do(t, ctx, chromedp.WaitVisible(chromedp.ID("message")))
		eval[bool](t, ctx, `window.scrollTo(0, 0), true`)
		screenshot(t, ctx, "dark-ja.png")
		// The phone (390×844), light, with the code of the answer in view.
		do(t, ctx, phoneScaled(390, 844, 2))
		eval[bool](t, ctx, `document.cookie = 'hxchat_theme=; path=/; max-age=0'; true`)
		do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
		eval[bool](t, ctx, `document.querySelector('.md .code').scrollIntoView({block: 'center'}), true`)
		screenshot(t, ctx, "phone.png")
	}
}

// TestBrowserPageWeight: the first load of the page makes requests to this
// server only, and says how many and how large (see the closing figures in
// the README).
func TestBrowserPageWeight(t *testing.T) {
	m := startApp(t, testConfig(nil, t.TempDir()))
	ctx, log := chrome(t)
	var mu sync.Mutex
	type req struct {
		url   string
		bytes float64
	}
	reqs := map[string]*req{}
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			reqs[string(ev.RequestID)] = &req{url: ev.Request.URL}
		case *network.EventLoadingFinished:
			if r := reqs[string(ev.RequestID)]; r != nil {
				r.bytes = ev.EncodedDataLength
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	base := "http://" + m.Addr()
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	waitFor(t, "the page to load", func() bool { return eval[string](t, ctx, `document.readyState`) == "complete" })
	mu.Lock()
	defer mu.Unlock()
	var total float64
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r.url, "about:") {
			continue
		}
		if !strings.HasPrefix(r.url, base+"/") {
			t.Errorf("request to another host: %s", r.url)
		}
		n++
		total += r.bytes
	}
	t.Logf("first load: %d requests, %.1f KiB on the wire (headers included, bodies gzipped)", n, total/1024)
	if n == 0 || total == 0 {
		t.Error("no requests seen")
	}
	if total > 35*1024 {
		t.Errorf("the first load is %.1f KiB on the wire, over 35", total/1024)
	}
	log.check(t)
}

// TestBrowserReload: reloading in the middle of an answer shows the text so
// far and then the rest, ending with the whole answer exactly once.
func TestBrowserReload(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	tokens := []string{"alpha ", "beta ", "gamma\n", "delta ", "epsilon ", "zeta ", "eta\n", "theta ", "iota"}
	up.Reply(llmtest.Reply{Tokens: tokens, Gate: gate, GateAfter: 4})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)

	sendFromNewChat(t, ctx, m, "reload test")
	reloadMidAnswer(t, ctx, tokens, gate)
	log.check(t)
}

// screenshot saves the page to docs/ (run with HXCHAT_SCREENSHOTS=1 to
// refresh the README's pictures).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func exceptionDesc(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

// TestBrowserHiddenTab: htmx pauses a stream while the tab is hidden and
// reconnects with Last-Event-ID when it shows again; the answer ends whole,
// with nothing missing or doubled.
func TestBrowserHiddenTab(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	tokens := []string{"one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight"}
	up.Reply(llmtest.Reply{Tokens: tokens, Gate: gate, GateAfter: 2})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	var resumed atomic.Bool
	if err := chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok && strings.HasSuffix(ev.Request.URL, "/events") {
			for k, v := range ev.Request.Headers {
				if strings.EqualFold(k, "Last-Event-ID") && v != "" {
					resumed.Store(true)
				}
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	sendFromNewChat(t, ctx, m, "hide and seek")
	waitText(t, ctx, ".msg.assistant .text", "the first tokens", func(s string) bool { return s == "one two" })
	setHidden := func(hidden bool) {
		eval[bool](t, ctx, `Object.defineProperty(document, 'hidden', {value: `+map[bool]string{true: "true", false: "false"}[hidden]+`, configurable: true}),
			document.dispatchEvent(new Event('visibilitychange')), true`)
	}
	setHidden(true)
	gate <- struct{}{} // "three " is sent while the tab is hidden
	waitFor(t, "the third token on the server", func() bool { return seqOf(m, 2) >= 3 })
	setHidden(false)
	close(gate)
	want := strings.Join(tokens, "")
	waitText(t, ctx, ".msg.assistant.state-done .text", "the whole answer", func(s string) bool { return s == want })
	if !resumed.Load() {
		t.Error("the stream did not reconnect with Last-Event-ID")
	}
	log.check(t)
}

// reloadMidAnswer reloads the page once the answer (tokens, held by the
// model service from the fifth until gate closes) shows its first four
// tokens, checks that the reloaded page shows them, lets the rest come, and
// checks that the whole answer shows exactly once, in one bubble.
func reloadMidAnswer(t *testing.T, ctx context.Context, tokens []string, gate chan struct{}) {
	t.Helper()
	partial := strings.TrimSpace(strings.Join(tokens[:4], ""))
	waitText(t, ctx, ".msg.assistant .text", "the first tokens", func(s string) bool { return s == partial })
	waitFor(t, "the address bar", func() bool {
		return strings.HasPrefix(eval[string](t, ctx, `location.pathname`), "/c/")
	})
	do(t, ctx, chromedp.Reload())
	waitText(t, ctx, ".msg.assistant.state-streaming .text", "the text so far after reload", func(s string) bool { return s == partial })
	close(gate)
	want := strings.Join(tokens, "")
	got := waitText(t, ctx, ".msg.assistant.state-done .text", "the whole answer", func(s string) bool { return s == want })
	if strings.Count(got, "alpha") != 1 {
		t.Errorf("answer shown %d times: %q", strings.Count(got, "alpha"), got)
	}
	if answers := eval[int](t, ctx, `document.querySelectorAll('.msg.assistant').length`); answers != 1 {
		t.Errorf("%d answer bubbles, want 1", answers)
	}
}
