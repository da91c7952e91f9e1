package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// TestBrowserStreamLimit: a tab that would open one answer stream more than
// its session may have tells the user why its answer does not move; once
// the other tab's stream has ended, a reload shows the answer.
func TestBrowserStreamLimit(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(llmtest.Reply{Tokens: []string{"one ", "two ", "three"}, Gate: gate, GateAfter: 1})
	cfg := testConfig(up, t.TempDir())
	cfg.MaxStreamsPerSession = 1
	m := startApp(t, cfg)
	ctx, _ := chrome(t)

	do(t, ctx,
		chromedp.Navigate("http://"+m.Addr()+"/"),
		chromedp.WaitVisible(chromedp.ID("message")),
		chromedp.SendKeys(chromedp.ID("message"), "limits"),
		pressEnter(),
	)
	waitText(t, ctx, ".msg.assistant .text", "the first token", func(s string) bool { return s == "one" })
	path := eval[string](t, ctx, `location.pathname`)

	// A second tab of the same browser, on the same conversation.
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	do(t, tab, chromedp.Navigate("http://"+m.Addr()+path))
	waitText(t, tab, "#alert", "the reason in the second tab", func(s string) bool {
		return strings.Contains(s, "Too many answers are open in other tabs")
	})
	close(gate)
	waitText(t, ctx, ".msg.assistant.state-done .text", "the answer in the first tab", func(s string) bool { return s == "one two three" })
	do(t, tab, chromedp.Reload())
	waitText(t, tab, ".msg.assistant.state-done .text", "the answer in the second tab", func(s string) bool { return s == "one two three" })
}
