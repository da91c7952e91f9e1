package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// TestBrowserVersions: editing the first question of a three-turn
// conversation loses nothing: "‹ 1/2 ›" brings the later turns back;
// regenerating an answer makes "2/2", and going back shows the old answer,
// also after a reload. The version buttons are labelled, and the focus stays
// on them.
func TestBrowserVersions(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(said("a1"), said("a2"), said("a3"), said("a1 edited"), said("a3 regenerated"))
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
		return err
	}))
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	for _, q := range []string{"q1", "q2", "q3"} {
		ask(t, ctx, q)
	}
	texts := func() string {
		return eval[string](t, ctx, `[...document.querySelectorAll('#log .msg .text')].map(e => e.textContent.trim()).join('|')`)
	}
	versions := func() string {
		return eval[string](t, ctx, `[...document.querySelectorAll('#log .versions')].map(e => e.closest('.msg').id.replace(/\d+/, '') + ':' + e.textContent.trim()).join(',')`)
	}
	all := "q1|a1|q2|a2|q3|a3"
	if got := texts(); got != all {
		t.Fatalf("conversation %q", got)
	}

	// Edit the first question.
	eval[bool](t, ctx, `document.querySelector('.msg.user .meta button[hx-get$="/edit"]').click(), true`)
	waitFor(t, "the edit form", func() bool { return eval[int](t, ctx, `document.querySelectorAll('.edit textarea').length`) == 1 })
	eval[bool](t, ctx, `(t => (t.value = 'q1 edited', t.form.requestSubmit(), true))(document.querySelector('.edit textarea'))`)
	waitFor(t, "the edited branch", func() bool {
		return texts() == "q1 edited|a1 edited" && eval[int](t, ctx, `document.querySelectorAll('.msg.assistant.state-done').length`) == 1
	})
	if got := versions(); got != "m:‹ 2/2 ›" {
		t.Errorf("after the edit: versions %q, want the question's ‹ 2/2 ›", got)
	}

	// ‹ brings the three turns back; the focus stays on the versions.
	prev := `document.querySelector('#log .msg.user .versions button[aria-label="Previous version"]')`
	eval[bool](t, ctx, prev+`.focus(), true`)
	eval[bool](t, ctx, prev+`.click(), true`)
	waitFor(t, "the first version", func() bool { return texts() == all })
	if got := versions(); got != "m:‹ 1/2 ›" {
		t.Errorf("first version: versions %q, want ‹ 1/2 ›", got)
	}
	waitFor(t, "the focus on the versions", func() bool {
		return eval[string](t, ctx, `document.activeElement.getAttribute('aria-label') || ''`) == "Next version"
	})
	checkA11y(t, ctx, "a conversation with versions")

	// Regenerate the last answer: 2/2; ‹ shows the old answer.
	eval[bool](t, ctx, `document.querySelector('.regenerate').click(), true`)
	waitFor(t, "the regenerated answer", func() bool {
		return texts() == "q1|a1|q2|a2|q3|a3 regenerated" && eval[int](t, ctx, `document.querySelectorAll('.msg.assistant.state-done').length`) == 3
	})
	if got := versions(); got != "m:‹ 1/2 ›,m:‹ 2/2 ›" {
		t.Errorf("after regenerating: versions %q\n%s", got, eval[string](t, ctx, `document.getElementById('log').innerHTML`))
	}
	eval[bool](t, ctx, `[...document.querySelectorAll('#log .msg.assistant .versions button')].find(b => b.getAttribute('aria-label') === 'Previous version').click(), true`)
	waitFor(t, "the old answer", func() bool { return texts() == all })
	if got := versions(); got != "m:‹ 1/2 ›,m:‹ 1/2 ›" {
		t.Errorf("old answer: versions %q", got)
	}

	// A reload shows the branch last chosen.
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	if got := texts(); got != all {
		t.Errorf("after reload: %q, want %q", got, all)
	}
	// › goes forward again.
	eval[bool](t, ctx, `[...document.querySelectorAll('#log .msg.assistant .versions button')].find(b => b.getAttribute('aria-label') === 'Next version').click(), true`)
	waitFor(t, "the regenerated answer again", func() bool { return strings.HasSuffix(texts(), "|a3 regenerated") })

	// The export link writes the branch shown, in the page's time zone.
	eval[bool](t, ctx, `window.md = null; fetch(document.querySelector('.export a[href$="/md"]').href).then(r => r.text()).then(t => { window.md = t; }), true`)
	waitFor(t, "the export", func() bool { return eval[bool](t, ctx, `typeof window.md === 'string'`) })
	md := eval[string](t, ctx, `window.md`)
	for _, w := range []string{"Times are in Asia/Tokyo (UTC+09:00).", " +09:00\n\nq3\n", "a3 regenerated"} {
		if !strings.Contains(md, w) {
			t.Errorf("export lacks %q:\n%s", w, md)
		}
	}
	if strings.Contains(md, "a3\n") || strings.Contains(md, "edited") {
		t.Errorf("export has messages of other branches:\n%s", md)
	}
	log.check(t)
}

// TestBrowserListOrder: a conversation that gets a new message goes to the
// top of the list at once.
func TestBrowserListOrder(t *testing.T) {
	up := llmtest.NewServer(t)
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	base := "http://" + m.Addr()
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "older")
	older := eval[string](t, ctx, `location.pathname`)
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "newer")
	do(t, ctx, chromedp.Navigate(base+older), chromedp.WaitVisible(chromedp.ID("message")))
	if got := titles(t, ctx); got != "newer|older" {
		t.Fatalf("list %q", got)
	}
	ask(t, ctx, "older, again")
	waitFor(t, "the conversation at the top", func() bool { return titles(t, ctx) == "older|newer" })
	if n := eval[int](t, ctx, `document.querySelectorAll('#conversations a[aria-current=page]').length`); n != 1 {
		t.Errorf("%d current entries, want 1", n)
	}
	// Regenerate moves it too.
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "newest")
	do(t, ctx, chromedp.Navigate(base+older), chromedp.WaitVisible(chromedp.ID("message")))
	eval[bool](t, ctx, `document.querySelector('.regenerate').click(), true`)
	waitFor(t, "the conversation at the top after Regenerate", func() bool { return titles(t, ctx) == "older|newest|newer" })
	log.check(t)
}
