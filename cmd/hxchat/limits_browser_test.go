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

	sendFromNewChat(t, ctx, m, "limits")
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

// TestBrowserRetryWait: while the model service is busy, the answer says so
// and when it tries again; then the answer streams in its place.
func TestBrowserRetryWait(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Status: 429, Headers: map[string]string{"retry-after-ms": "1500"}}, llmtest.Reply{Tokens: []string{"fine ", "now"}})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	sendFromNewChat(t, ctx, m, "busy?")
	waitText(t, ctx, ".msg.assistant .waiting", "the wait", func(s string) bool {
		return strings.Contains(s, "busy (rate limit). Trying again in 2 s (attempt 2 of 3)")
	})
	waitText(t, ctx, ".msg.assistant.state-done .text", "the answer", func(s string) bool { return s == "fine now" })
	if n := eval[int](t, ctx, `document.querySelectorAll('.msg.assistant .waiting').length`); n != 0 {
		t.Errorf("the wait is still shown after the answer")
	}
	log.check(t)
}
