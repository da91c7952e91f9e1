package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// typeText types text into the focused element as a keyboard or IME does.
func typeText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// ask sends a message from the page and waits for its answer to end.
func ask(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	n := eval[int](t, ctx, `document.querySelectorAll('.msg.assistant.state-done').length`)
	// Send, not Enter: on a touch screen Enter breaks the line.
	do(t, ctx, chromedp.Focus(chromedp.ID("message")), typeText(text), chromedp.Click(chromedp.CSS("#composer button.send")))
	waitFor(t, "the answer to "+text, func() bool {
		return eval[int](t, ctx, `document.querySelectorAll('.msg.assistant.state-done').length`) == n+1
	})
}

// titles returns the titles in the conversation list.
func titles(t *testing.T, ctx context.Context) string {
	return eval[string](t, ctx, `[...document.querySelectorAll('#conversations a')].map(a => a.textContent).join('|')`)
}

// TestBrowserConversations: the sidebar lists conversations newest first,
// searches titles and message text, renames inline and deletes after
// confirmation.
func TestBrowserConversations(t *testing.T) {
	cfg := testConfig(nil, t.TempDir())
	cfg.OpenAI.APIKey, cfg.OpenAI.BaseURL, cfg.OpenAI.Model = "", "", "" // the demo model
	cfg.DemoRate = 0
	m := startApp(t, cfg)
	ctx, log := chrome(t)
	base := "http://" + m.Addr()

	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "apples in autumn")
	// The first conversation takes the place of the empty list's note, as
	// the current one.
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#conversations > li')].map(li => li.className + ':' + (li.querySelector('a[aria-current=page]')?.textContent ?? '')).join('|')`); got != "conv:apples in autumn" {
		t.Fatalf("list after the first message: %q", got)
	}
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "bananas in 東京")
	if got := titles(t, ctx); got != "bananas in 東京|apples in autumn" {
		t.Fatalf("list %q, want newest first", got)
	}
	search := func(q, want string) {
		t.Helper()
		eval[bool](t, ctx, `(s => (s.value = `+jsString(q)+`, s.dispatchEvent(new Event('input', {bubbles: true})), true))(document.querySelector('.search'))`)
		waitFor(t, "search "+q, func() bool { return titles(t, ctx) == want })
	}
	search("東京", "bananas in 東京")
	search("hxchat", "bananas in 東京|apples in autumn") // in the answers' text
	search("APPLES", "apples in autumn")
	search("nothing like this", "")
	if got := eval[string](t, ctx, `document.querySelector('#conversations .empty').textContent`); got != "No conversation matches." {
		t.Errorf("empty search says %q", got)
	}
	search("", "bananas in 東京|apples in autumn")

	// Rename the conversation on the page, inline.
	eval[bool](t, ctx, `document.querySelector('#conversations a[aria-current=page] + .conv-actions button').click(), true`)
	waitFor(t, "the rename form", func() bool { return eval[int](t, ctx, `document.querySelectorAll('.renaming input').length`) == 1 })
	eval[bool](t, ctx, `(i => (i.value = 'Fruit: bananas', true))(document.querySelector('.renaming input'))`)
	eval[bool](t, ctx, `document.querySelector('.renaming form').requestSubmit(), true`)
	waitFor(t, "the new title", func() bool { return titles(t, ctx) == "Fruit: bananas|apples in autumn" })
	if h := eval[string](t, ctx, `document.getElementById('chat-title').textContent`); h != "Fruit: bananas" {
		t.Errorf("heading %q after rename", h)
	}

	// Delete the other one: dismissed first, then confirmed.
	eval[bool](t, ctx, `window.asked = []; window.answer = false; window.confirm = m => (window.asked.push(m), window.answer); true`)
	del := `[...document.querySelectorAll('#conversations .conv')].find(li => li.textContent.includes('apples')).querySelector('button[hx-post$="/delete"]').click(), true`
	eval[bool](t, ctx, del)
	waitFor(t, "the question", func() bool { return eval[int](t, ctx, `window.asked.length`) == 1 })
	if q := eval[string](t, ctx, `window.asked[0]`); !strings.Contains(q, "apples in autumn") {
		t.Errorf("confirmation asks %q", q)
	}
	if got := titles(t, ctx); got != "Fruit: bananas|apples in autumn" {
		t.Errorf("dismissed delete changed the list: %q", got)
	}
	eval[bool](t, ctx, `window.answer = true; true`)
	eval[bool](t, ctx, del)
	waitFor(t, "the deletion", func() bool { return titles(t, ctx) == "Fruit: bananas" })

	// Deleting the conversation on the page goes to a new chat.
	eval[bool](t, ctx, `document.querySelector('#conversations a[aria-current=page] + .conv-actions button[hx-post$="/delete"]').click(), true`)
	waitFor(t, "a new chat", func() bool {
		return eval[string](t, ctx, `location.pathname`) == "/" && titles(t, ctx) == ""
	})
	log.check(t)
}

// TestBrowserJapanese: the language switch shows the whole page in
// Japanese, and stays so.
func TestBrowserJapanese(t *testing.T) {
	cfg := testConfig(nil, t.TempDir())
	cfg.OpenAI.APIKey, cfg.OpenAI.BaseURL, cfg.OpenAI.Model = "", "", ""
	cfg.DemoRate = 0
	m := startApp(t, cfg)
	ctx, log := chrome(t)
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	eval[bool](t, ctx, `document.querySelector('.lang button').click(), true`)
	waitFor(t, "the Japanese page", func() bool {
		lang, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`)) // fails while the page navigates
		return lang == "ja"
	})
	do(t, ctx, chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "こんにちは")
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	for sel, want := range map[string]string{".new-chat": "新しいチャット", ".send": "送信", ".lang button": "English"} {
		if got := eval[string](t, ctx, `document.querySelector('`+sel+`').textContent`); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	if l := eval[string](t, ctx, `document.querySelector('.md .code .copy').textContent`); l != "コピー" {
		t.Errorf("a code block's Copy says %q", l)
	}
	if ph := eval[string](t, ctx, `document.getElementById('message').placeholder`); !strings.Contains(ph, "Enter で送信") {
		t.Errorf("placeholder %q", ph)
	}
	log.check(t)
}
