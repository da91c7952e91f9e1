package main

import (
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// xssCorpus is model output that tries to run script, make the browser send
// a request, or reach htmx. Each vector that could run calls mark().
var xssCorpus = []string{
	"<script>mark()</script>",
	"<img src=x onerror=mark()>",
	"<svg onload=mark()><script>mark()</script></svg>",
	"<iframe src=\"javascript:mark()\"></iframe>",
	"<iframe srcdoc=\"<script>parent.mark()</script>\"></iframe>",
	"[click](javascript:mark())",
	"[click](JaVaScRiPt:mark())",
	"[click](&#106;avascript:mark())",
	"[click](data:text/html,<script>mark()</script>)",
	"[click](vbscript:mark())",
	"![leak](http://127.0.0.2:9/leak.png)",
	"![leak][ref]\n\n[ref]: http://127.0.0.2:9/ref.png",
	"<a href=\"http://127.0.0.2:9/\" hx-get=\"/c\" hx-trigger=\"load\">htmx</a>",
	"<div hx-get=\"http://127.0.0.2:9/\" hx-trigger=\"load\">x</div>",
	"<button hx-on:click=\"mark()\">b</button>",
	"<hx-partial hx-target=\"body\" hx-swap=\"innerHTML\"><b>owned</b></hx-partial>",
	"<style>body{background:url(http://127.0.0.2:9/css)}</style>",
	"<div style=\"background:url(http://127.0.0.2:9/style)\">s</div>",
	"<link rel=stylesheet href=http://127.0.0.2:9/x.css>",
	"<meta http-equiv=refresh content=\"0;url=http://127.0.0.2:9/\">",
	"<form action=http://127.0.0.2:9/><button>go</button></form>",
	"<object data=\"http://127.0.0.2:9/o\"></object><embed src=\"http://127.0.0.2:9/e\">",
	"<details open ontoggle=mark()>d</details>",
	"<math><mi xlink:href=\"javascript:mark()\">m</mi></math>",
	"[link](http://example.com \"title\\\" onmouseover=\\\"mark()\")",
	"<a href='javascript:mark()'>unclosed <b><i>",
	"`<script>mark()</script>` and ```html\n<script>mark()</script>\n```",
	"<base href=\"http://127.0.0.2:9/\">",
	"<!-- <script>mark()</script> -->",
	"<<script>script>mark()<</script>/script>",
}

// TestBrowserXSS streams the corpus through the whole app (model → SSE →
// Markdown → htmx) into a real browser: nothing runs, no request leaves for
// another host, and no element of the answer carries an event handler, a
// style, an htmx attribute or a script.
func TestBrowserXSS(t *testing.T) {
	up := llmtest.NewServer(t)
	var tokens []string
	for _, v := range xssCorpus {
		// Stream each vector in small pieces, so that tags arrive split.
		for i := 0; i < len(v); i += 5 {
			tokens = append(tokens, v[i:min(i+5, len(v))])
		}
		tokens = append(tokens, "\n\n")
	}
	up.Reply(llmtest.Reply{Tokens: tokens})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	base := "http://" + m.Addr()
	var mu sync.Mutex
	var foreign []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok && !strings.HasPrefix(ev.Request.URL, base+"/") && !strings.HasPrefix(ev.Request.URL, "about:") {
			mu.Lock()
			foreign = append(foreign, ev.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	eval[bool](t, ctx, `window.marked = 0; window.mark = () => window.marked++; window.alert = window.mark; true`)
	ask(t, ctx, "show me some HTML")
	// Hover and click everything in the answer, to fire what handlers might hide.
	eval[bool](t, ctx, `for (const e of document.querySelectorAll('.msg.assistant .text *')) {
		e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
		if (e.tagName !== 'A') e.click();
	} true`)
	if n := eval[int](t, ctx, `window.marked`); n != 0 {
		t.Errorf("model output ran script %d times", n)
	}
	bad := eval[[]string](t, ctx, `[...document.querySelectorAll('.msg.assistant .text *')].flatMap(e =>
		['SCRIPT','IFRAME','STYLE','LINK','META','OBJECT','EMBED','FORM','BASE','SVG','MATH','IMG'].includes(e.tagName.toUpperCase()) ? [e.tagName] :
		[...e.attributes].filter(a => /^(on|hx-|data-hx|style|src|srcdoc|action|formaction|xlink)/i.test(a.name)).map(a => e.tagName + '[' + a.name + ']'))`)
	if len(bad) > 0 {
		t.Errorf("dangerous elements or attributes in the answer: %v", bad)
	}
	hrefs := eval[[]string](t, ctx, `[...document.querySelectorAll('.msg.assistant .text a')].map(a => a.getAttribute('href'))`)
	for _, h := range hrefs {
		if !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") && !strings.HasPrefix(h, "mailto:") {
			t.Errorf("link to %q", h)
		}
	}
	if eval[string](t, ctx, `document.body.textContent`) == "owned" {
		t.Error("a partial from the model replaced the page")
	}
	if !strings.Contains(eval[string](t, ctx, `document.querySelector('.msg.assistant .text').textContent`), "<script>mark()</script>") {
		t.Error("raw HTML from the model is not shown as text")
	}
	mu.Lock()
	if len(foreign) > 0 {
		t.Errorf("requests left for other hosts: %v", foreign)
	}
	mu.Unlock()
	log.check(t)
}
