package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// wideAnswer is an answer made of everything that could widen a phone's
// page: a long line of code, a wide table, a long URL and a long line of
// Japanese without a space.
var wideAnswer = "Here is the code:\n\n```go\nfunc main() { fmt.Println(\"" + strings.Repeat("a very long line of code ", 8) + "\") }\n\tif x {\n\t\treturn\n\t}\n```\n\n" +
	"| " + strings.Repeat("column heading | ", 9) + "\n|" + strings.Repeat("---|", 9) + "\n| " + strings.Repeat("a wide cell of text | ", 9) + "\n\n" +
	"See https://example.com/" + strings.Repeat("a-very-long-path-segment/", 10) + "?query=" + strings.Repeat("x", 40) + " for more.\n\n" +
	strings.Repeat("日本語の長い行は空白なしで続きます。", 12) + "\n"

// phone makes the page a phone's: width × height CSS pixels, a touch
// screen without hover.
func phone(width, height int64) chromedp.Action[chromedp.Void] { return phoneScaled(width, height, 1) }

// phoneScaled is phone with scale device pixels to a CSS pixel.
func phoneScaled(width, height int64, scale float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, chromedp.EmulateMobile, chromedp.EmulateScale(scale))); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: true, MaxTouchPoints: 5})
		return err
	})
}

// fitsWidth fails the test when the page is wider than width CSS pixels or
// Send (or Stop) lies outside it.
func fitsWidth(t *testing.T, ctx context.Context, width int, screen string) {
	t.Helper()
	got := eval[string](t, ctx, `(() => {
		const d = document.documentElement, b = document.querySelector('#composer button:not([hidden])');
		const r = b ? b.getBoundingClientRect() : {left: 0, right: 0};
		return [d.scrollWidth, d.clientWidth, window.innerWidth, Math.round(r.left), Math.round(r.right)].join(' ');
	})()`)
	var scroll, client, inner, left, right int
	fmt.Sscan(got, &scroll, &client, &inner, &left, &right)
	if scroll != width || client != width || inner != width {
		wide := eval[string](t, ctx, `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5 && !e.closest('pre, table')).slice(0, 5).map(e => e.tagName.toLowerCase() + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')`)
		t.Errorf("%s at %d px: the page is %d px wide (client %d, window %d); wider: %s", screen, width, scroll, client, inner, wide)
	}
	if !strings.HasSuffix(screen, "error page") && (left < 0 || right > width || right == 0) {
		t.Errorf("%s at %d px: the send button spans %d–%d px", screen, width, left, right)
	}
}

// TestBrowserPhoneLayout: on phones 360 and 390 px wide, in English and
// Japanese, no screen is wider than the phone, whatever an answer holds
// (code, tables, URLs, Japanese without spaces scroll or wrap in their own
// box), and Send stays on the screen: a new chat, a conversation, the menu
// open, a question being edited and an error page.
func TestBrowserPhoneLayout(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	defer close(gate)
	half := strings.Index(wideAnswer, "See https") // the code and the table first
	up.Reply(llmtest.Reply{Tokens: []string{wideAnswer}}, llmtest.Reply{Tokens: []string{wideAnswer}},
		llmtest.Reply{Tokens: []string{wideAnswer[:half], wideAnswer[half:]}, Gate: gate, GateAfter: 1})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	base := "http://" + m.Addr()
	do(t, ctx, phone(390, 844), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "https://example.com/"+strings.Repeat("long-question-path/", 8)+" "+strings.Repeat("空白のない質問", 10))
	ask(t, ctx, "again")
	conv := eval[string](t, ctx, `location.pathname`)
	if n := eval[int](t, ctx, `document.querySelectorAll('.msg.assistant .md pre, .msg.assistant .md table').length`); n != 4 {
		t.Fatalf("%d code blocks and tables, want 4", n)
	}
	// A desktop window (and a narrow one, where the sidebar is beside the
	// chat) is not widened either.
	for _, w := range []int64{1100, 800} {
		do(t, ctx, chromedp.EmulateViewport(w, 800), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
		page, window := eval[int](t, ctx, `document.documentElement.scrollWidth`), eval[int](t, ctx, `document.documentElement.clientWidth`)
		if page != window {
			t.Errorf("desktop window of %d px: the page is %d px wide, the window %d", w, page, window)
		}
	}
	for _, lang := range []string{"en", "ja"} {
		eval[bool](t, ctx, `document.cookie = 'hxchat_lang=`+lang+`; path=/', true`)
		for _, width := range []int{360, 390} {
			do(t, ctx, phone(int64(width), 844))
			screen := func(name, path string, then func()) {
				t.Helper()
				do(t, ctx, chromedp.Navigate(base+path), chromedp.WaitReady("body"))
				if then != nil {
					then()
				}
				fitsWidth(t, ctx, width, lang+" "+name)
			}
			screen("new chat", "/", nil)
			screen("conversation", conv, nil)
			screen("conversation scrolled to the top", conv, func() { eval[bool](t, ctx, `window.scrollTo(0, 0), true`) })
			screen("menu open", conv, func() {
				eval[bool](t, ctx, `document.querySelector('.menu-toggle').click(), true`)
				waitFor(t, "the menu", func() bool { return eval[bool](t, ctx, `document.getElementById('sidebar-body').offsetHeight > 0`) })
			})
			screen("editing a question", conv, func() {
				eval[bool](t, ctx, `document.querySelector('.msg.user .meta button[hx-get$="/edit"]').click(), true`)
				waitFor(t, "the edit form", func() bool { return eval[int](t, ctx, `document.querySelectorAll('.edit textarea').length`) == 1 })
			})
			screen("error page", "/c/aaaaaaaaaaaaaaaaaaaaaaaaaa", nil)
		}
	}
	// The wide parts scroll inside their own box.
	do(t, ctx, phone(390, 844), chromedp.Navigate(base+conv), chromedp.WaitVisible(chromedp.ID("message")))
	if got := eval[string](t, ctx, `[...document.querySelectorAll('.msg.assistant .md pre, .msg.assistant .md table')].map(e => e.scrollWidth > e.clientWidth && e.getBoundingClientRect().right <= 390 ? 'scrolls' : 'no').join(' ')`); got != "scrolls scrolls scrolls scrolls" {
		t.Errorf("code blocks and tables in their own box: %q", got)
	}
	// While an answer is written (Stop instead of Send), half of it shown.
	do(t, ctx, phone(360, 844), chromedp.Focus(chromedp.ID("message")), typeText("once more"), chromedp.Click(chromedp.CSS("#composer button.send")))
	waitFor(t, "half of the answer", func() bool {
		return eval[bool](t, ctx, `!!document.querySelector('.msg.state-streaming .md pre') && !document.querySelector('#composer .stop-send').hidden`)
	})
	fitsWidth(t, ctx, 360, "answer being written")
	log.problems = filterProblems(log.problems, "404")
	log.check(t)
}
