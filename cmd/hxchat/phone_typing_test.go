package main

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// touchScreen makes the page's device a touch screen: its primary pointer
// is coarse, as a phone's.
func touchScreen() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: true, MaxTouchPoints: 5})
		return err
	})
}

// TestBrowserPhoneTyping: on a touch screen Enter breaks the line and the
// Send button sends, as the placeholder says; a message typed while an
// answer is written is kept, also across a reload, and forgotten once sent.
func TestBrowserPhoneTyping(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(llmtest.Reply{Tokens: []string{"one ", "two"}, Gate: gate, GateAfter: 1}, llmtest.Reply{Tokens: []string{"second"}})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	do(t, ctx, touchScreen(), chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	if !eval[bool](t, ctx, `matchMedia('(pointer: coarse)').matches`) {
		t.Fatal("the emulated touch screen has no coarse pointer")
	}
	if ph := eval[string](t, ctx, `document.getElementById('message').placeholder`); ph != "Send a message (Enter for a new line, the Send button sends)" {
		t.Errorf("placeholder on a touch screen: %q", ph)
	}

	do(t, ctx, chromedp.Focus(chromedp.ID("message")), typeText("line one"), pressEnter(), typeText("line two"))
	if v := eval[string](t, ctx, `document.getElementById('message').value`); v != "line one\nline two" {
		t.Fatalf("box holds %q after Enter on a touch screen", v)
	}
	if n := userBubbles(t, ctx); n != 0 {
		t.Fatal("Enter sent the message on a touch screen")
	}
	eval[bool](t, ctx, `document.querySelector('#composer .send').click(), true`)
	waitText(t, ctx, ".msg.assistant .text", "the first token", func(s string) bool { return s == "one" })
	if v := eval[string](t, ctx, `document.getElementById('message').value`); v != "" {
		t.Errorf("box holds %q after Send", v)
	}
	// The composer of the new conversation says the same.
	if ph := eval[string](t, ctx, `document.getElementById('message').placeholder`); ph != "Send a message (Enter for a new line, the Send button sends)" {
		t.Errorf("placeholder of the conversation's composer: %q", ph)
	}

	// Typed while the answer is written, kept across a reload.
	do(t, ctx, chromedp.Focus(chromedp.ID("message")), typeText("next question"), pressEnter(), typeText("with two lines"))
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	if v := eval[string](t, ctx, `document.getElementById('message').value`); v != "next question\nwith two lines" {
		t.Fatalf("after a reload the box holds %q", v)
	}
	close(gate)
	waitText(t, ctx, ".msg.assistant.state-done .text", "the first answer", func(s string) bool { return s == "one two" })
	waitFor(t, "Send", func() bool { return eval[bool](t, ctx, `!document.querySelector('#composer .send').hidden`) })
	eval[bool](t, ctx, `document.querySelector('#composer .send').click(), true`)
	waitFor(t, "the second answer", func() bool {
		return eval[int](t, ctx, `document.querySelectorAll('.msg.assistant.state-done').length`) == 2
	})
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	if v := eval[string](t, ctx, `document.getElementById('message').value`); v != "" {
		t.Errorf("a sent message came back after a reload: %q", v)
	}
	if n := eval[int](t, ctx, `Object.keys(localStorage).filter(k => k.startsWith('hxchat:draft:')).length`); n != 0 {
		t.Errorf("%d drafts kept after sending", n)
	}
	log.check(t)
}
