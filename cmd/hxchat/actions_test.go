package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// TestBrowserMessageActions: Copy puts a message's source on the clipboard;
// Regenerate writes the last answer again; Edit changes a question and
// replaces what followed it.
func TestBrowserMessageActions(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(
		llmtest.Reply{Tokens: []string{"first **answer**\n\n```go\nfmt.Println(\"hi\")\n```\n"}},
		llmtest.Reply{Tokens: []string{"second answer"}},
		llmtest.Reply{Tokens: []string{"regenerated"}},
		llmtest.Reply{Tokens: []string{"after the edit"}},
	)
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "question one")
	ask(t, ctx, "question two")
	answers := func() string {
		return eval[string](t, ctx, `[...document.querySelectorAll('.msg .text')].map(e => e.textContent.trim()).join('|')`)
	}
	if got := answers(); got != "question one|first answer\ngoCopyfmt.Println(\"hi\")|question two|second answer" {
		t.Fatalf("conversation %q", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('.meta .usage').length`); n != 2 {
		t.Errorf("%d answers show their token usage, want 2", n)
	}

	// Copy: the clipboard gets the Markdown source of the first answer.
	eval[bool](t, ctx, `window.copied = null; navigator.clipboard.write = items => items[0].getType('text/plain').then(b => b.text()).then(s => { window.copied = s; }); true`)
	eval[bool](t, ctx, `document.querySelectorAll('.msg.assistant .meta [data-copy]')[0].click(), true`)
	waitFor(t, "the copy", func() bool {
		return eval[string](t, ctx, `String(window.copied)`) == "first **answer**\n\n```go\nfmt.Println(\"hi\")\n```\n"
	})
	// A code block's Copy copies its code.
	eval[bool](t, ctx, `window.copied = null; document.querySelector('.md .code .copy').click(), true`)
	waitFor(t, "the code copy", func() bool { return eval[string](t, ctx, `String(window.copied)`) == "fmt.Println(\"hi\")\n" })

	// Regenerate is offered on the last answer only.
	if n := eval[int](t, ctx, `[...document.querySelectorAll('.meta button')].filter(b => b.textContent === 'Regenerate').length`); n != 1 {
		t.Fatalf("%d Regenerate buttons, want 1 (on the last answer)", n)
	}
	eval[bool](t, ctx, `[...document.querySelectorAll('.meta button')].find(b => b.textContent === 'Regenerate').click(), true`)
	waitFor(t, "the regenerated answer", func() bool {
		return answers() == "question one|first answer\ngoCopyfmt.Println(\"hi\")|question two|regenerated"
	})

	// Edit the first question: what followed it is replaced.
	eval[bool](t, ctx, `[...document.querySelectorAll('.msg.user .meta button')].find(b => b.textContent === 'Edit').click(), true`)
	waitFor(t, "the edit form", func() bool { return eval[int](t, ctx, `document.querySelectorAll('.edit textarea').length`) == 1 })
	if v := eval[string](t, ctx, `document.querySelector('.edit textarea').value`); v != "question one" {
		t.Errorf("edit form holds %q", v)
	}
	eval[bool](t, ctx, `(t => (t.value = 'question one, better', t.form.requestSubmit(), true))(document.querySelector('.edit textarea'))`)
	waitFor(t, "the new answer", func() bool {
		return answers() == "question one, better|after the edit" &&
			eval[int](t, ctx, `document.querySelectorAll('.msg.assistant.state-done').length`) == 1
	})
	last := up.Requests()[len(up.Requests())-1]
	var sent []string
	for _, msg := range last.Body.Messages {
		sent = append(sent, msg.Role+":"+msg.Content)
	}
	if got := strings.Join(sent, "|"); got != "system:You are a test assistant.|user:question one, better" {
		t.Errorf("after the edit the model got %q", got)
	}
	// The page after a reload agrees.
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	if got := answers(); got != "question one, better|after the edit" {
		t.Errorf("after reload: %q", got)
	}
	log.check(t)
}
