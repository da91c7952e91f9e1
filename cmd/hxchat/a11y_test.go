package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

//go:embed testdata/axe/axe.min.js
var axeSource string

// axeViolation is one rule that a page breaks, as axe-core reports it.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []string `json:"target"`
	} `json:"nodes"`
}

// checkA11y runs axe-core on the page and fails on every serious or critical
// violation of WCAG 2.x A and AA.
func checkA11y(t *testing.T, ctx context.Context, screen string) {
	t.Helper()
	if !eval[bool](t, ctx, `typeof axe !== 'undefined'`) {
		eval[bool](t, ctx, axeSource+"\n;true")
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
		.then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe: %v", screen, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("%s: axe result: %v", screen, err)
	}
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, strings.Join(n.Target, " "))
			}
			t.Errorf("%s: %s (%s): %s at %s", screen, v.ID, v.Impact, v.Help, strings.Join(where, ", "))
		}
	}
}

// TestBrowserAccessibility runs axe-core on the main screens, in English and
// Japanese, light and dark: a new chat, a conversation with a finished, a
// failed and a streaming answer, the sidebar's rename form, an error page,
// and the phone layout with its menu open.
func TestBrowserAccessibility(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	defer close(gate)
	up.Reply(
		llmtest.Reply{Tokens: []string{"A finished answer.\n", "With two lines."}},
		llmtest.Reply{Status: 401}, // not retried, so the next reply is the next answer's
		llmtest.Reply{Tokens: []string{"Streaming ", "still"}, Gate: gate, GateAfter: 1},
	)
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	base := "http://" + m.Addr()
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	checkA11y(t, ctx, "new chat")
	ask(t, ctx, "first question")
	do(t, ctx, chromedp.Focus(chromedp.ID("message")), typeText("second question"), pressEnter())
	waitFor(t, "the failed answer", func() bool { return eval[int](t, ctx, `document.querySelectorAll('.state-error').length`) == 1 })
	do(t, ctx, chromedp.Focus(chromedp.ID("message")), typeText("third question"), pressEnter())
	waitText(t, ctx, ".msg.state-streaming .text", "the streaming answer", func(s string) bool { return s == "Streaming" })
	for _, theme := range []string{"light", "dark"} {
		for _, lang := range []string{"en", "ja"} {
			eval[bool](t, ctx, `document.documentElement.dataset.theme = '`+theme+`'; document.documentElement.lang = '`+lang+`'; true`)
			checkA11y(t, ctx, "conversation "+theme+" "+lang)
		}
	}
	// Keyboard only: Tab from a conversation reaches its actions, shown
	// while focused, and Enter opens the rename form.
	tab := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: typ, Key: "Tab", Code: "Tab", WindowsVirtualKeyCode: 9}); err != nil {
				return err
			}
		}
		return nil
	})
	eval[bool](t, ctx, `document.querySelector('#conversations .conv a').focus(), true`)
	do(t, ctx, tab)
	if got := eval[string](t, ctx, `document.activeElement.getAttribute('aria-label') + ' ' + getComputedStyle(document.activeElement.closest('.conv-actions')).opacity`); got != "Rename 1" {
		t.Errorf("Tab from a conversation reached %q, want its visible Rename button", got)
	}
	do(t, ctx, pressEnter())
	waitFor(t, "the rename form", func() bool { return eval[int](t, ctx, `document.querySelectorAll('.renaming input').length`) == 1 })
	checkA11y(t, ctx, "rename form")
	do(t, ctx, chromedp.Navigate(base+"/c/aaaaaaaaaaaaaaaaaaaaaaaaaa"), chromedp.WaitVisible(chromedp.ID("sidebar-body")))
	checkA11y(t, ctx, "error page")
	do(t, ctx, chromedp.EmulateViewport(360, 740), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	eval[bool](t, ctx, `document.querySelector('.menu-toggle').click(), true`)
	checkA11y(t, ctx, "phone with the menu open")
	log.problems = filterProblems(log.problems, "404")
	log.check(t)
}
