package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// TestBrowserSizeLimit: the size limit is said in characters of the
// reader's language ("about 1,000" in English, "約 340" in Japanese for
// 1 KiB), and past 80 % of it the message box counts what is left, then
// what is too many; a refused message stays in the box.
func TestBrowserSizeLimit(t *testing.T) {
	up := llmtest.NewServer(t)
	cfg := testConfig(up, t.TempDir())
	cfg.MaxMessageBytes = 1024
	m := startApp(t, cfg)
	ctx, log := chrome(t)
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))

	set := func(text string) {
		t.Helper()
		eval[bool](t, ctx, `(t => (t.value = `+jsString(text)+`, t.dispatchEvent(new Event('input', {bubbles: true})), true))(document.getElementById('message'))`)
	}
	counter := func() string {
		return eval[string](t, ctx, `(c => c.hidden ? '' : c.textContent)(document.getElementById('counter'))`)
	}
	set(strings.Repeat("a", 800)) // 78 %
	if c := counter(); c != "" {
		t.Errorf("counter shown far from the limit: %q", c)
	}
	set(strings.Repeat("a", 900))
	if c := counter(); c != "About 124 characters left" {
		t.Errorf("counter near the limit: %q", c)
	}
	set(strings.Repeat("a", 1100))
	if c := counter(); c != "About 76 characters too many: shorten the message or split it into parts" ||
		!eval[bool](t, ctx, `document.getElementById('counter').classList.contains('over')`) {
		t.Errorf("counter over the limit: %q", c)
	}
	do(t, ctx, chromedp.Focus(chromedp.ID("message")), pressEnter())
	waitText(t, ctx, "#alert", "the refusal", func(s string) bool {
		return strings.Contains(s, "too long: at most about 1,000 characters can be sent at once")
	})
	if v := eval[string](t, ctx, `document.getElementById('message').value`); v != strings.Repeat("a", 1100) {
		t.Errorf("the refused text was not kept (%d bytes)", len(v))
	}

	// In Japanese: three bytes a character.
	eval[bool](t, ctx, `document.querySelector('.lang button').click(), true`)
	waitFor(t, "the Japanese page", func() bool {
		lang, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
		return lang == "ja"
	})
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("message")))
	set(strings.Repeat("あ", 300)) // 900 bytes
	if c := counter(); c != "残り約 41 文字" {
		t.Errorf("Japanese counter: %q", c)
	}
	set(strings.Repeat("あ", 400))
	do(t, ctx, chromedp.Focus(chromedp.ID("message")), pressEnter())
	waitText(t, ctx, "#alert", "the Japanese refusal", func(s string) bool { return strings.Contains(s, "一度に送れるのは約 340 文字までです") })
	set("")
	if c := counter(); c != "" {
		t.Errorf("counter shown for an empty box: %q", c)
	}
	log.problems = filterProblems(log.problems, "413")
	log.check(t)
}
