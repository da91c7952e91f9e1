package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// searches counts the page's requests for the conversation list.
func (l *pageLog) searches() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.HasPrefix(s, "request GET ") && strings.Contains(s, "/conversations?") {
			n++
		}
	}
	return n
}

// TestBrowserSearchJapanese: the sidebar's search does not ask the server
// while an IME composition is open, searches when it ends, finds text typed
// in another width (full-width ＳＳＥ finds sse), and each result shows
// where it matched, the match marked and the text escaped.
func TestBrowserSearchJapanese(t *testing.T) {
	up := llmtest.NewServer(t) // echoes the question
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "質問です")
	// Send is back (Stop goes at the next frame): the box sends again.
	waitFor(t, "Send", func() bool {
		return eval[bool](t, ctx, `!document.getElementById('composer').classList.contains('busy')`)
	})
	ask(t, ctx, "<b>bold</b> では sse で回答を流しますか？")
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	ask(t, ctx, "another question")
	if got := titles(t, ctx); got != "another question|質問です" {
		t.Fatalf("list %q", got)
	}

	// An IME composes: no search until the composition ends.
	before := log.searches()
	do(t, ctx, chromedp.Focus(".search"), compose("ｓ"), compose("ｓｓ"), compose("ｓｓｅ"))
	time.Sleep(700 * time.Millisecond) // past the search's delay of 250 ms
	if n := log.searches() - before; n != 0 {
		t.Fatalf("%d searches while the composition was open", n)
	}
	if got := titles(t, ctx); got != "another question|質問です" {
		t.Fatalf("the list changed while composing: %q", got)
	}
	do(t, ctx, typeText("ＳＳＥ")) // the composition ends with the full-width word
	waitFor(t, "the search", func() bool { return titles(t, ctx) == "質問です" })
	if n := log.searches() - before; n != 1 {
		t.Errorf("%d searches for one composed word, want 1", n)
	}
	// Where it matched: the message's text around the match, marked.
	snippet := eval[string](t, ctx, `document.querySelector('#conversations .snippet').textContent`)
	if snippet != "<b>bold</b> では sse で回答を流しますか？" {
		t.Errorf("snippet %q", snippet)
	}
	if got := eval[string](t, ctx, `[...document.querySelectorAll('#conversations .snippet mark')].map(m => m.textContent).join('|')`); got != "sse" {
		t.Errorf("marked %q, want sse", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#conversations b').length`); n != 0 {
		t.Errorf("the message's markup became elements (%d)", n)
	}

	// A match in the title: marked there, no snippet needed.
	eval[bool](t, ctx, `(s => (s.value = 'ANOTHER', s.dispatchEvent(new Event('input', {bubbles: true})), true))(document.querySelector('.search'))`)
	waitFor(t, "the title search", func() bool { return titles(t, ctx) == "another question" })
	if got := eval[string](t, ctx, `document.querySelector('#conversations a mark').textContent`); got != "another" {
		t.Errorf("marked in the title: %q", got)
	}
	log.check(t)
}
