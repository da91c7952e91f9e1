package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// key sends one key event, as a keyboard (or an IME) does.
func key(typ input.DispatchKeyEventType, k string, code int64, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: k, Code: k, WindowsVirtualKeyCode: code, NativeVirtualKeyCode: code, Text: text, UnmodifiedText: text,
		})
		return err
	})
}

func compose(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.ImeSetComposition, input.ImeSetCompositionParams{Text: text, SelectionStart: int64(len([]rune(text))), SelectionEnd: int64(len([]rune(text)))})
		return err
	})
}

func userBubbles(t *testing.T, ctx context.Context) int {
	return eval[int](t, ctx, `document.querySelectorAll('.msg.user').length`)
}

// TestBrowserComposer: an Enter that confirms an IME composition does not
// send (neither Chromium's nor Safari's order of events); Shift+Enter breaks
// the line; while an answer is written Send becomes Stop, which stops it; a
// refused message stays in the box with the reason beside it.
func TestBrowserComposer(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	defer close(gate)
	up.Reply(llmtest.Reply{Tokens: []string{"partial ", "never"}, Gate: gate, GateAfter: 1})
	cfg := testConfig(up, t.TempDir())
	m := startApp(t, cfg)
	ctx, log := chrome(t)
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")), chromedp.Focus(chromedp.ID("message")))

	// Chromium: Enter during the composition (keyCode 229, isComposing).
	do(t, ctx, compose("にほんご"), key(input.DispatchKeyEventTypeRawKeyDown, "Enter", 229, ""), typeText("日本語"),
		key(input.DispatchKeyEventTypeKeyUp, "Enter", 13, ""))
	// Safari: the confirming Enter's keydown comes after compositionend, with keyCode 229.
	do(t, ctx, compose("です"), typeText("です"), key(input.DispatchKeyEventTypeRawKeyDown, "Enter", 229, ""),
		key(input.DispatchKeyEventTypeKeyUp, "Enter", 13, ""))
	time.Sleep(300 * time.Millisecond)
	if n := userBubbles(t, ctx); n != 0 {
		t.Fatalf("an IME Enter sent the message (%d bubbles)", n)
	}
	// Shift+Enter: a new line, not a send.
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
			p := input.DispatchKeyEventParams{Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, Modifiers: 8} // 8: Shift
			if typ == input.DispatchKeyEventTypeKeyDown {
				p.Text = "\r"
			}
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, p); err != nil {
				return err
			}
		}
		return nil
	}), typeText("二行目"))
	if v := eval[string](t, ctx, `document.getElementById('message').value`); v != "日本語です\n二行目" {
		t.Fatalf("box holds %q", v)
	}
	if n := userBubbles(t, ctx); n != 0 {
		t.Fatal("Shift+Enter sent the message")
	}

	// Enter sends; Send becomes Stop; Stop stops; Send comes back.
	do(t, ctx, pressEnter())
	waitText(t, ctx, ".msg.assistant .text", "the first token", func(s string) bool { return s == "partial" })
	waitFor(t, "Stop in place of Send", func() bool {
		return eval[bool](t, ctx, `document.querySelector('.send').hidden && !document.querySelector('.stop-send').hidden`)
	})
	eval[bool](t, ctx, `document.querySelector('.stop-send').click(), true`)
	waitText(t, ctx, ".msg.assistant.state-stopped .text", "the stopped answer", func(s string) bool { return s == "partial" })
	waitFor(t, "Send again", func() bool {
		return eval[bool](t, ctx, `!document.querySelector('.send').hidden && document.querySelector('.stop-send').hidden`)
	})

	// A message over the limit: 413, the reason beside the box, the text kept.
	long := strings.Repeat("長", 12000) // 36 KB
	eval[bool](t, ctx, `(t => (t.value = `+jsString(long)+`, true))(document.getElementById('message'))`)
	do(t, ctx, chromedp.Focus(chromedp.ID("message")), pressEnter())
	waitText(t, ctx, "#alert", "the reason", func(s string) bool { return strings.Contains(s, "too long") })
	if v := eval[string](t, ctx, `document.getElementById('message').value`); v != long {
		t.Errorf("the refused text was not kept (%d chars)", len([]rune(v)))
	}
	if n := userBubbles(t, ctx); n != 1 {
		t.Errorf("%d user bubbles after a refused message, want 1", n)
	}
	log.problems = filterProblems(log.problems, "413")
	log.check(t)
}

// filterProblems drops the page's report of an expected failed request.
func filterProblems(ps []string, expected string) []string {
	var out []string
	for _, p := range ps {
		if !strings.Contains(p, expected) {
			out = append(out, p)
		}
	}
	return out
}

// TestBrowserFollow: the view follows a growing answer; when the reader
// scrolls up it stops following and offers "jump to latest", which brings
// it back. The message box grows with its text; the theme switch cycles
// system, light and dark and is remembered.
func TestBrowserFollow(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	var tokens []string
	for i := range 80 {
		tokens = append(tokens, "Paragraph "+strings.Repeat("x", i%7)+" of a long answer.\n\n")
	}
	up.Reply(llmtest.Reply{Tokens: tokens, Gate: gate, GateAfter: 40})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))

	h0 := eval[float64](t, ctx, `document.getElementById('message').offsetHeight`)
	do(t, ctx, chromedp.Focus(chromedp.ID("message")), typeText("one\ntwo\nthree\nfour"))
	if h := eval[float64](t, ctx, `document.getElementById('message').offsetHeight`); h <= h0 {
		t.Errorf("the message box did not grow: %v → %v px", h0, h)
	}
	eval[bool](t, ctx, `document.getElementById('message').value = 'long please', true`)
	do(t, ctx, pressEnter())
	atBottom := func() bool {
		return eval[bool](t, ctx, `(e => e.scrollHeight - e.scrollTop - e.clientHeight < 48)(document.scrollingElement)`)
	}
	waitFor(t, "40 paragraphs, followed", func() bool {
		return eval[int](t, ctx, `document.querySelectorAll('.msg.assistant .text p').length`) >= 39 && atBottom()
	})
	eval[bool](t, ctx, `window.scrollTo(0, 0), true`)
	waitFor(t, "the scroll", func() bool { return !atBottom() })
	for range 10 {
		gate <- struct{}{}
	}
	waitFor(t, "jump to latest", func() bool { return eval[bool](t, ctx, `!document.querySelector('.jump').hidden`) })
	if atBottom() {
		t.Error("the view followed after the reader scrolled up")
	}
	eval[bool](t, ctx, `document.querySelector('.jump').click(), true`)
	waitFor(t, "the bottom", atBottom)
	close(gate)
	waitFor(t, "the end, followed", func() bool {
		return eval[int](t, ctx, `document.querySelectorAll('.msg.assistant.state-done').length`) == 1 && atBottom()
	})
	if !eval[bool](t, ctx, `document.querySelector('.jump').hidden`) {
		t.Error("jump to latest still shown at the bottom")
	}

	// Theme: system → light → dark → system, remembered across a reload.
	theme := func() string { return eval[string](t, ctx, `document.documentElement.dataset.theme || ''`) }
	for _, want := range []string{"light", "dark"} {
		eval[bool](t, ctx, `document.querySelector('.theme').click(), true`)
		if got := theme(); got != want {
			t.Fatalf("theme %q, want %q", got, want)
		}
	}
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	if got := theme(); got != "dark" {
		t.Errorf("after reload theme %q, want dark", got)
	}
	if bg := eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(15, 20, 28)" {
		t.Errorf("dark theme background %s", bg)
	}
	eval[bool](t, ctx, `document.querySelector('.theme').click(), true`)
	if got := theme(); got != "" {
		t.Errorf("third click: theme %q, want the system's", got)
	}
	log.check(t)
}
