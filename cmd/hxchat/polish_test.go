package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/llm/llmtest"
)

// demoConfig is a test app's configuration on the offline demo model.
func demoConfig(t *testing.T) config.Config {
	cfg := testConfig(nil, t.TempDir())
	cfg.OpenAI.APIKey, cfg.OpenAI.BaseURL, cfg.OpenAI.Model = "", "", ""
	cfg.DemoRate = 0
	return cfg
}

// setLang makes the page's language lang (as the switch does) and reloads.
func setLang(t *testing.T, ctx context.Context, lang string) {
	t.Helper()
	eval[bool](t, ctx, `document.cookie = 'hxchat_lang=`+lang+`; path=/', true`)
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
}

// hover moves the mouse to the middle of the element sel.
func hover(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	var xy []float64
	xy = eval[[]float64](t, ctx, `(r => [r.left + r.width / 2, r.top + r.height / 2])(document.querySelector(`+jsString(sel)+`).getBoundingClientRect())`)
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: xy[0], Y: xy[1]})
		return err
	}))
}

// TestBrowserDemoHeader: the header names the demo model in the page's
// language, and the demo banner, once dismissed, stays away.
func TestBrowserDemoHeader(t *testing.T) {
	m := startApp(t, demoConfig(t))
	ctx, log := chrome(t)
	do(t, ctx, phone(390, 844), chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	for lang, want := range map[string]string{"ja": "デモモデル（オフライン）", "en": "Demo model (offline)"} {
		setLang(t, ctx, lang)
		if got := eval[string](t, ctx, `document.querySelector('.chat-header .model').textContent`); got != want {
			t.Errorf("%s header: the model is %q, want %q", lang, got, want)
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('.banner').length`); n != 1 {
		t.Fatalf("%d demo banners", n)
	}
	checkA11y(t, ctx, "phone with the demo banner")
	for _, w := range []int64{360, 390} {
		do(t, ctx, phone(w, 844), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
		fitsWidth(t, ctx, int(w), "the demo banner")
	}
	eval[bool](t, ctx, `document.querySelector('.banner .banner-close').click(), true`)
	if got := eval[string](t, ctx, `document.querySelectorAll('.banner').length + ' ' + document.activeElement.id`); got != "0 message" {
		t.Errorf("after Hide: %q, want no banner and the focus in the message box", got)
	}
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "hello")
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	if n := eval[int](t, ctx, `document.querySelectorAll('.banner').length`); n != 0 {
		t.Errorf("the dismissed banner is back after a reload (%d)", n)
	}
	log.check(t)
}

var reTimeFallback = regexp.MustCompile(`<time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>`)

// TestBrowserTimes: a message's time shows how long ago it was, in the
// page's language, with the full local date as its title; it is kept up to
// date; without script the page shows the time in UTC.
func TestBrowserTimes(t *testing.T) {
	m := startApp(t, demoConfig(t))
	ctx, log := chrome(t)
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "what time is it")
	// The page as the server sends it.
	page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(location.href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if len(reTimeFallback.FindAllString(page, -1)) != 2 {
		t.Errorf("the page's times are not written in UTC: %q", regexp.MustCompile(`<time[^>]*>[^<]*</time>`).FindAllString(page, -1))
	}
	times := func() string {
		return eval[string](t, ctx, `[...document.querySelectorAll('.meta time')].map(e => e.textContent).join('|')`)
	}
	for _, c := range []struct{ lang, now, later string }{
		{"en", "now|now", "3 hours ago|3 hours ago"},
		{"ja", "今|今", "3 時間前|3 時間前"},
	} {
		setLang(t, ctx, c.lang)
		if got := times(); got != c.now {
			t.Errorf("%s: times %q, want %q", c.lang, got, c.now)
		}
		if got := eval[string](t, ctx, `document.querySelector('.meta time').title`); !strings.Contains(got, time.Now().Format("2006")) {
			t.Errorf("%s: a time's title is %q, want the full date", c.lang, got)
		}
		// Three hours later, when the tab shows again.
		eval[bool](t, ctx, `(real => { Date.now = () => real() + 3 * 3600e3 })(Date.now), document.dispatchEvent(new Event('visibilitychange')), true`)
		if got := times(); got != c.later {
			t.Errorf("%s: three hours later the times say %q, want %q", c.lang, got, c.later)
		}
	}
	log.check(t)
}

// TestBrowserSidebarTitles: a conversation's title has the whole width of
// the list, with a tooltip; its ✎ and × show on hover or focus; on a touch
// screen they are behind ⋯. The rename field is wide and has the old title
// selected.
func TestBrowserSidebarTitles(t *testing.T) {
	m := startApp(t, demoConfig(t))
	ctx, log := chrome(t)
	long := "a rather long question about " + strings.Repeat("many things ", 6)
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, long)
	li := `document.querySelector('#conversations .conv')`
	state := func() string {
		return eval[string](t, ctx, `(li => [Math.round(li.getBoundingClientRect().width - li.querySelector('a').getBoundingClientRect().width), li.querySelector('a').title, getComputedStyle(li.querySelector('.conv-actions')).opacity].join('|'))(`+li+`)`)
	}
	if got, want := state(), "0|"+eval[string](t, ctx, li+`.querySelector('a').textContent`)+"|0"; got != want {
		t.Errorf("desktop: (room left by the title|tooltip|opacity of the actions) %q, want %q", got, want)
	}
	hover(t, ctx, "#conversations .conv")
	if got := eval[string](t, ctx, `getComputedStyle(`+li+`.querySelector('.conv-actions')).opacity`); got != "1" {
		t.Errorf("hovered: the actions' opacity is %s", got)
	}
	eval[bool](t, ctx, li+`.querySelector('button[hx-get$="/rename"]').click(), true`)
	waitFor(t, "the rename field", func() bool { return eval[bool](t, ctx, `document.activeElement.matches('.renaming input')`) })
	if got := eval[string](t, ctx, `(i => [i.selectionStart, i.selectionEnd === i.value.length, i.getBoundingClientRect().width >= 200].join(' '))(document.activeElement)`); got != "0 true true" {
		t.Errorf("the rename field (selection start, selected to the end, 200 px or wider): %q", got)
	}
	do(t, ctx, pressEscape())
	waitFor(t, "the title back", func() bool { return eval[int](t, ctx, `document.querySelectorAll('.renaming').length`) == 0 })

	// A phone: no hover. The title leaves room for ⋯ only, which shows the
	// actions.
	do(t, ctx, phone(390, 844), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	eval[bool](t, ctx, `document.querySelector('.menu-toggle').click(), true`)
	if !eval[bool](t, ctx, `matchMedia('(hover: none) and (pointer: coarse)').matches`) {
		t.Fatal("the phone has hover or no touch screen")
	}
	got := eval[string](t, ctx, `(li => [li.querySelector('.conv-more').getBoundingClientRect().width, Math.round(li.getBoundingClientRect().width - li.querySelector('a').getBoundingClientRect().width), getComputedStyle(li.querySelector('.conv-actions')).display].join('|'))(`+li+`)`)
	if got != "28|28|none" {
		t.Errorf("phone: (⋯'s width|room left by the title|actions' display) %q, want 28|28|none", got)
	}
	eval[bool](t, ctx, li+`.querySelector('.conv-more').click(), true`)
	got = eval[string](t, ctx, `(li => [li.querySelector('.conv-more').getAttribute('aria-expanded'), getComputedStyle(li.querySelector('.conv-actions')).display, (r => r.width > 0 && r.right <= innerWidth)(li.querySelector('button[hx-get$="/rename"]').getBoundingClientRect())].join('|'))(`+li+`)`)
	if got != "true|flex|true" {
		t.Errorf("phone after ⋯: (expanded|actions' display|rename on screen) %q", got)
	}
	checkA11y(t, ctx, "phone, a conversation's actions open")
	eval[bool](t, ctx, li+`.querySelector('button[hx-get$="/rename"]').focus(), true`)
	do(t, ctx, focusPage(), pressEscape())
	if got := eval[string](t, ctx, `(li => [li.querySelector('.conv-more').getAttribute('aria-expanded'), getComputedStyle(li.querySelector('.conv-actions')).display, document.activeElement === li.querySelector('.conv-more'), li.closest('.sidebar').classList.contains('open')].join('|'))(`+li+`)`); got != "false|none|true|true" {
		t.Errorf("phone, Escape in the actions: (expanded|actions' display|focus on ⋯|menu open) %q", got)
	}
	eval[bool](t, ctx, li+`.querySelector('.conv-more').click(), true`)
	eval[bool](t, ctx, li+`.querySelector('button[hx-get$="/rename"]').click(), true`)
	waitFor(t, "the rename field on the phone", func() bool { return eval[int](t, ctx, `document.querySelectorAll('.renaming input').length`) == 1 })
	fitsWidth(t, ctx, 390, "renaming on the phone")
	log.check(t)
}

// TestBrowserCodeBlock: code is laid out with tabs of 4; Copy says that it
// copied, for a moment, in the page's language.
func TestBrowserCodeBlock(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: []string{"```go\nfunc f() {\n\treturn\n}\n```\n"}})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "code please")
	if got := eval[string](t, ctx, `getComputedStyle(document.querySelector('.md pre')).tabSize`); got != "4" {
		t.Errorf("tab size %q, want 4", got)
	}
	for _, c := range []struct{ lang, copy, copied string }{{"en", "Copy", "Copied"}, {"ja", "コピー", "コピーしました"}} {
		setLang(t, ctx, c.lang)
		eval[bool](t, ctx, `navigator.clipboard.write = () => Promise.resolve(); true`)
		for _, sel := range []string{".md .code .copy", ".msg.assistant .meta [data-copy]"} {
			eval[bool](t, ctx, `document.querySelector(`+jsString(sel)+`).click(), true`)
			waitText(t, ctx, sel, c.lang+" "+sel+" saying it copied", func(s string) bool { return s == c.copied })
			waitText(t, ctx, sel, c.lang+" "+sel+" back to "+c.copy, func(s string) bool { return s == c.copy })
		}
	}
	log.check(t)
}
