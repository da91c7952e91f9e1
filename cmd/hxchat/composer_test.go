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
