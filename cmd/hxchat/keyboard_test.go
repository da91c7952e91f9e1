package main

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// press presses a key (code: its Windows key code) with modifiers (Alt 1,
// Ctrl 2, Meta 4, Shift 8), as a keyboard does.
func press(k string, code int64, modifiers int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			p := input.DispatchKeyEventParams{Type: typ, Key: k, Code: k, WindowsVirtualKeyCode: code, NativeVirtualKeyCode: code, Modifiers: modifiers}
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// focusPage makes the page behave as the focused window, as it is when a
// person types in it (so that :focus styles apply).
func focusPage() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	})
}

func pressEscape() chromedp.Action[chromedp.Void] { return press("Escape", 27, 0) }

// focused describes the focused element: its tag, id or class, and text.
func focused(t *testing.T, ctx context.Context) string {
	return eval[string](t, ctx, `(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className.split(' ')[0] : '') + ' ' + e.textContent.trim().slice(0, 40))(document.activeElement)`)
}

// TestBrowserKeyboard: a skip link leads to the message box; Escape cancels
// a rename and an edit, and closes the phone menu; Ctrl+Enter sends an
// edited question; after a rename or an edit, saved or cancelled, the focus
// is on the renamed item or the edited bubble.
func TestBrowserKeyboard(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: []string{"first answer"}}, llmtest.Reply{Tokens: []string{"answer to the edit"}})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	base := "http://" + m.Addr()
	do(t, ctx, focusPage())

	// The skip link is the first thing Tab reaches, shows when focused and
	// leads to the message box.
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	if got := eval[string](t, ctx, `document.querySelector('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])').textContent`); got != "Skip to the message box" {
		t.Errorf("the first thing Tab reaches says %q", got)
	}
	setLang(t, ctx, "ja")
	if got := eval[string](t, ctx, `document.querySelector('.skip-link').textContent`); got != "メッセージ入力欄へ移動" {
		t.Errorf("ja: the skip link says %q", got)
	}
	setLang(t, ctx, "en")
	eval[bool](t, ctx, `document.querySelector('.skip-link').focus(), true`)
	if top := eval[float64](t, ctx, `document.querySelector('.skip-link').getBoundingClientRect().top`); top < 0 {
		t.Errorf("the focused skip link is off screen (top %v)", top)
	}
	do(t, ctx, pressEnter())
	waitFor(t, "the message box focused", func() bool { return eval[string](t, ctx, `document.activeElement.id`) == "message" })

	ask(t, ctx, "first question")
	link := `document.querySelector('#conversations a[aria-current=page]')`
	openRename := func() {
		t.Helper()
		eval[bool](t, ctx, `document.querySelector('#conversations .conv button[hx-get$="/rename"]').click(), true`)
		waitFor(t, "the rename field focused", func() bool {
			return eval[bool](t, ctx, `document.activeElement.matches('.renaming input')`)
		})
	}
	openRename()
	do(t, ctx, pressEscape())
	waitFor(t, "the rename cancelled", func() bool { return eval[int](t, ctx, `document.querySelectorAll('.renaming').length`) == 0 })
	waitFor(t, "the focus on the item", func() bool { return eval[bool](t, ctx, `document.activeElement === `+link) })
	if got := titles(t, ctx); got != "first question" {
		t.Errorf("Escape changed the title: %q", got)
	}
	openRename()
	do(t, ctx, typeText("Renamed by keyboard"), pressEnter())
	waitFor(t, "the new title", func() bool { return titles(t, ctx) == "Renamed by keyboard" })
	waitFor(t, "the focus on the renamed item", func() bool { return eval[bool](t, ctx, `document.activeElement === `+link) })

	// Edit: Escape cancels, Ctrl+Enter sends; the focus comes back to the
	// question.
	openEdit := func() {
		t.Helper()
		eval[bool](t, ctx, `document.querySelector('.msg.user .meta button[hx-get$="/edit"]').click(), true`)
		waitFor(t, "the edit box focused", func() bool { return eval[bool](t, ctx, `document.activeElement.matches('.edit textarea')`) })
	}
	openEdit()
	do(t, ctx, pressEscape())
	waitFor(t, "the edit cancelled", func() bool { return eval[int](t, ctx, `document.querySelectorAll('.editing').length`) == 0 })
	waitFor(t, "the focus on the question", func() bool {
		return eval[string](t, ctx, `document.activeElement.closest('.msg.user')?.querySelector('.text').textContent ?? ''`) == "first question"
	})
	openEdit()
	eval[bool](t, ctx, `document.activeElement.select(), true`)
	do(t, ctx, typeText("edited question"), press("Enter", 13, 2))
	waitFor(t, "the answer to the edit", func() bool {
		return eval[string](t, ctx, `[...document.querySelectorAll('.msg.state-done .text, .msg.user .text')].map(e => e.textContent.trim()).join('|')`) == "edited question|answer to the edit"
	})
	waitFor(t, "the focus on the edited question", func() bool {
		return eval[string](t, ctx, `document.activeElement.closest('.msg.user')?.querySelector('.text').textContent ?? ''`) == "edited question"
	})

	// The phone menu closes with Escape, and the focus is on its button.
	do(t, ctx, phone(390, 844), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	eval[bool](t, ctx, `document.querySelector('.menu-toggle').click(), true`)
	eval[bool](t, ctx, `document.querySelector('#sidebar-body .search').focus(), true`)
	do(t, ctx, pressEscape())
	waitFor(t, "the menu closed", func() bool {
		return eval[string](t, ctx, `document.querySelector('.menu-toggle').getAttribute('aria-expanded') + ' ' + document.getElementById('sidebar-body').offsetHeight`) == "false 0"
	})
	if got := focused(t, ctx); got != "button.menu-toggle Menu" {
		t.Errorf("after Escape the focus is on %q, want the menu button", got)
	}
	checkA11y(t, ctx, "phone, conversation")
	log.check(t)
}
