package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/internal/cmspec"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/markdown"
	"github.com/hxchat/hxchat/web"
)

// replayCase is an answer's stream to replay in the page, and the HTML a
// fresh page load shows for it.
type replayCase struct {
	Name  string   `json:"name"`
	Steps []string `json:"steps"`
	Want  string   `json:"want"`
}

// replayJS swaps every step of each case into a fresh answer element of
// the page, with htmx and the page's own script as a stream does, and
// returns the cases whose element then differs from a page load of the
// answer (compared as the browser serializes both).
const replayJS = `(async (cases) => {
  const fails = [];
  for (const c of cases) {
    const body = document.createElement("div");
    body.id = "m1-body";
    body.setAttribute("hx-ignore", "");
    document.body.append(body);
    for (const d of c.steps) await htmx.swap({ text: d, target: body, swap: "none" });
    const ref = document.createElement("div");
    ref.innerHTML = c.want;
    if (body.innerHTML !== ref.innerHTML) fails.push(c.name + "\n got: " + body.innerHTML + "\nwant: " + ref.innerHTML);
    body.remove();
  }
  return fails;
})`

// TestBrowserStreamSpec streams every example of the CommonMark spec, GFM
// tables, task lists and strikethrough, and the answers of the Markdown
// corpus through the page's own swaps, in chunks of 1 and 3 bytes, and
// checks that the answer's element then equals a fresh page load of it:
// the DOM just before the final event, which keeps it.
func TestBrowserStreamSpec(t *testing.T) {
	ctx, log := chrome(t)
	up := llmtest.NewServer(t)
	m := startApp(t, testConfig(up, t.TempDir()))
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitReady("#composer"))

	ex, err := cmspec.Load("../../internal/cmspec/testdata/spec.txt")
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{
		"gfm-table":         "| a | b |\n|:--|--:|\n| 1 | `2` |\n| **3** | 4 |\n\nafter\n",
		"gfm-tasks":         "- [ ] todo\n- [x] done\n  - [ ] nested\n",
		"gfm-strikethrough": "~~gone~~ and ~one~ and ~~not\n",
	}
	var names []string
	for _, e := range ex {
		name := fmt.Sprintf("example %d (%s)", e.Number, e.Section)
		texts[name] = e.Markdown
		names = append(names, name)
	}
	names = append(names, "gfm-table", "gfm-tasks", "gfm-strikethrough")
	for _, f := range []string{"long-go-code.md", "long-list.md", "long-table.md", "nested-lists-code.md", "long-quote.md", "long-paragraph.md", "ja-mixed.md", "en-links-html.md"} {
		b, err := os.ReadFile("../../markdown/testdata/corpus/" + f)
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = string(b)
		names = append(names, f)
	}
	r := markdown.New()
	var cases []replayCase
	for _, name := range names {
		text := texts[name]
		for _, n := range []int{1, 3} {
			if n == 1 && len(text) > 2000 {
				continue // the long answers: 3-byte chunks are enough
			}
			c := replayCase{Name: fmt.Sprintf("%s in %d-byte chunks", name, n), Want: string(r.Render(text))}
			for _, s := range web.AnswerSteps(1, text, cmspec.ChunkEnds(text, n)) {
				c.Steps = append(c.Steps, string(s))
			}
			cases = append(cases, c)
		}
	}
	arg, _ := json.Marshal(cases)
	start := time.Now()
	fails, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](replayJS+"("+string(arg)+")", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for _, c := range cases {
		steps += len(c.Steps)
	}
	t.Logf("%d streams, %d steps replayed in %v", len(cases), steps, time.Since(start).Round(time.Millisecond))
	for i, f := range fails {
		if i == 10 {
			t.Errorf("and %d more", len(fails)-10)
			break
		}
		t.Error(f)
	}
	log.check(t)
}

// TestBrowserSwapCost measures, with performance.now() in the page, the time
// the browser spends swapping the steps of long code and list answers (in
// 4-byte tokens), in today's format and in the one before it, which replaced
// the open block whole at every token (an element of finished blocks
// appended to, and one of the open tail replaced), and htmx's own cost (a
// swap that changes nothing). A layout is forced after every token, the
// worst case: a page lays out once a frame. A measurement, not a
// check, and a minute long, so it runs only when asked:
//
//	HXCHAT_SWAP_COST=1 go test -v -run TestBrowserSwapCost ./cmd/hxchat
func TestBrowserSwapCost(t *testing.T) {
	if os.Getenv("HXCHAT_SWAP_COST") == "" {
		t.Skip("a measurement: HXCHAT_SWAP_COST=1 go test -v -run TestBrowserSwapCost ./cmd/hxchat")
	}
	ctx, log := chrome(t)
	m := startApp(t, testConfig(llmtest.NewServer(t), t.TempDir()))
	do(t, ctx, chromedp.Navigate("http://"+m.Addr()+"/"), chromedp.WaitReady("#composer"))
	r := markdown.New()
	for _, f := range []string{"long-go-code.md", "long-list.md", "long-table.md"} {
		b, err := os.ReadFile("../../markdown/testdata/corpus/" + f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		ends := cmspec.ChunkEnds(text, 4)
		var now, before []string
		for _, s := range web.AnswerSteps(1, text, ends) {
			now = append(now, string(s))
		}
		// The former format, from the same marks.
		s := r.Stream()
		mark := 0
		for _, end := range ends {
			s.Grow(text[:end])
			var b strings.Builder
			if m := s.Mark(); m > mark {
				fmt.Fprintf(&b, `<hx-partial hx-target="#m1-done" hx-swap="beforeend">%s</hx-partial>`, r.Render(text[mark:m]))
				mark = m
			}
			fmt.Fprintf(&b, `<hx-partial hx-target="#m1-tail" hx-swap="innerHTML">%s</hx-partial>`, r.Render(text[mark:end]))
			before = append(before, b.String())
		}
		empty := make([]string, len(now))
		for i := range empty {
			empty[i] = `<hx-partial hx-target="#m1-body" hx-swap="md"></hx-partial>`
		}
		arg, _ := json.Marshal(map[string][]string{"now": now, "before": before, "empty": empty})
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](swapCostJS+"("+string(arg)+")", chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-16s %4d tokens: swaps %6.1f ms (%.3f ms a token, of which htmx's own %.3f), with the whole open block replaced: %6.1f ms (%.3f ms a token)",
			f, len(ends), ms["now"], ms["now"]/float64(len(ends)), ms["empty"]/float64(len(ends)), ms["before"], ms["before"]/float64(len(ends)))
	}
	log.check(t)
}

const swapCostJS = `(async (steps) => {
  const out = {};
  for (const [name, list] of Object.entries(steps)) {
    const body = document.createElement("div");
    body.id = "m1-body";
    body.setAttribute("hx-ignore", "");
    body.innerHTML = '<div id="m1-done"></div><div id="m1-tail"></div>';
    document.querySelector("#log, main").append(body);
    let spent = 0;
    for (const d of list) {
      const t0 = performance.now();
      await htmx.swap({ text: d, target: body, swap: "none" });
      body.offsetHeight; // the layout of every token: the worst case, a page lays out once a frame
      spent += performance.now() - t0;
    }
    out[name] = spent;
    body.remove();
  }
  return out;
})`

// TestBrowserStreamKeepsNodes streams a long code block and a long list:
// a text selection made in the code survives the tokens after it, the page
// reloaded mid-answer and a second tab that joins mid-answer end with the
// same answer as a fresh page load, and so does the tab that followed it
// from the start, just before its final event.
func TestBrowserStreamKeepsNodes(t *testing.T) {
	ctx, log := chrome(t)
	up := llmtest.NewServer(t)
	m := startApp(t, testConfig(up, t.TempDir()))
	tokens := codeAndList(t, 6)
	up.Reply(llmtest.Reply{Tokens: tokens, Delay: 4 * time.Millisecond})
	sendFromNewChat(t, ctx, m, "show me the hub")
	waitFor(t, "the answer's bubble", func() bool { return eval[bool](t, ctx, `!!document.querySelector(".msg.assistant .text")`) })
	// The first tab records the answer's text until its last event.
	recordLast(t, ctx)

	// A selection in the first lines of the growing code block.
	waitFor(t, "the code block to grow", func() bool {
		return eval[int](t, ctx, `document.querySelectorAll(".msg.assistant code").length ? document.querySelector(".msg.assistant code").textContent.split("\n").length : 0`) > 20
	})
	sel := eval[string](t, ctx, `(() => {
	  const code = document.querySelector(".msg.assistant code");
	  const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
	  const a = walker.nextNode(); let b = a; for (let i = 0; i < 8; i++) b = walker.nextNode() || b;
	  const r = document.createRange(); r.setStart(a, 0); r.setEnd(b, b.length);
	  const s = getSelection(); s.removeAllRanges(); s.addRange(r);
	  window.__selected = s.toString(); window.__anchor = a;
	  return window.__selected;
	})()`)
	if len(sel) < 10 {
		t.Fatalf("selected %q", sel)
	}
	// A second tab joins, and the first reloads, while the answer streams.
	tab2, cancel2 := chromedp.NewContext(ctx)
	defer cancel2()
	do(t, tab2, chromedp.Navigate("http://"+m.Addr()+eval[string](t, ctx, "location.pathname")))
	waitFor(t, "the list to start", func() bool {
		return eval[bool](t, ctx, `!!document.querySelector(".msg.assistant li")`)
	})
	if got := eval[string](t, ctx, `getSelection().toString()`); got != sel || !eval[bool](t, ctx, `window.__anchor.isConnected`) {
		t.Errorf("the selection in the code block is gone: %q, want %q", got, sel)
	}
	tab3, cancel3 := chromedp.NewContext(ctx)
	defer cancel3()
	do(t, tab3, chromedp.Navigate("http://"+m.Addr()+eval[string](t, ctx, "location.pathname")))
	waitText(t, ctx, ".msg.assistant.state-done .text", "the answer", func(s string) bool { return strings.Contains(s, "That is the whole list.") })
	waitText(t, tab3, ".msg.assistant.state-done .text", "the answer after a reload", func(s string) bool { return strings.Contains(s, "That is the whole list.") })
	waitText(t, tab2, ".msg.assistant.state-done .text", "the answer in the second tab", func(s string) bool { return strings.Contains(s, "That is the whole list.") })
	want := pageLoad(t, ctx, "http://"+m.Addr())
	if got := undecorated(eval[string](t, ctx, `window.__last`)); got != want {
		t.Errorf("just before its final event the answer was\n%.300s\nnot as a page load shows it\n%.300s", got, want)
	}
	if got := undecorated(eval[string](t, tab2, `document.querySelector(".msg.assistant .text").innerHTML`)); got != want {
		t.Errorf("the second tab shows\n%.300s\nnot\n%.300s", got, want)
	}
	if got := undecorated(eval[string](t, tab3, `document.querySelector(".msg.assistant .text").innerHTML`)); got != want {
		t.Errorf("the reloaded tab shows\n%.300s\nnot\n%.300s", got, want)
	}
	log.check(t)
}

// TestBrowserStreamBusy streams the long code answer of the corpus through
// the app to a page, a 4-byte token every 3 ms as a fast model sends them,
// and reports how busy the page's main thread was meanwhile (Chromium's
// own counters: tasks, scripts, layout, style). Opt-in, like
// TestBrowserSwapCost:
//
//	HXCHAT_SWAP_COST=1 go test -v -run TestBrowserStreamBusy ./cmd/hxchat
func TestBrowserStreamBusy(t *testing.T) {
	if os.Getenv("HXCHAT_SWAP_COST") == "" {
		t.Skip("a measurement: HXCHAT_SWAP_COST=1 go test -v -run TestBrowserStreamBusy ./cmd/hxchat")
	}
	ctx, log := chrome(t)
	up := llmtest.NewServer(t)
	m := startApp(t, testConfig(up, t.TempDir()))
	b, err := os.ReadFile("../../markdown/testdata/corpus/long-go-code.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	var tokens []string
	prev := 0
	for _, end := range cmspec.ChunkEnds(text, 4) {
		tokens = append(tokens, text[prev:end])
		prev = end
	}
	up.Reply(llmtest.Reply{Tokens: tokens, Delay: 3 * time.Millisecond})
	metrics := func() map[string]float64 {
		var out map[string]float64
		do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			r, err := cdp.Call(ctx, tg, performance.GetMetrics, cdp.Empty{})
			out = map[string]float64{}
			for _, m := range r.Metrics {
				out[m.Name] = m.Value
			}
			return err
		}))
		return out
	}
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, performance.Enable, performance.EnableParams{})
		return err
	}))
	start := time.Now()
	m0 := metrics()
	sendFromNewChat(t, ctx, m, "show me the hub")
	waitText(t, ctx, ".msg.assistant.state-done .text", "the answer", func(s string) bool { return strings.Contains(s, "each reader calls") })
	wall := time.Since(start)
	m1 := metrics()
	d := func(k string) float64 { return m1[k] - m0[k] }
	t.Logf("%d tokens in %.1f s: main thread busy %.1f s (scripts %.1f s, layout %.1f s, style %.1f s), %d layouts",
		len(tokens), wall.Seconds(), d("TaskDuration"), d("ScriptDuration"), d("LayoutDuration"), d("RecalcStyleDuration"), int(d("LayoutCount")))
	log.check(t)
}

// TestBrowserStreamResumes drops the network under a page while a long
// code block streams, and again while a long list does: each time htmx
// reconnects with Last-Event-ID and gets only what it missed (some twenty
// tokens, which the stream's replay log holds), appended to the nodes the
// page holds: a node of the code block shown before the drops is still in
// the page after them, so no snapshot replaced it. Just before its final
// event the answer equals a page load of it.
func TestBrowserStreamResumes(t *testing.T) {
	ctx, log := chrome(t)
	up := llmtest.NewServer(t)
	m := startApp(t, testConfig(up, t.TempDir()))
	px := newProxy(t, m.Addr())
	tokens := codeAndList(t, 8)
	// The tokens pass a gate that the test holds: free, or a given number
	// more while the network is down.
	gate, done := make(chan struct{}), make(chan struct{})
	defer close(done)
	var allow atomic.Int64 // tokens still let through; -1: all
	allow.Store(-1)
	go func() {
		for {
			if n := allow.Load(); n == 0 {
				time.Sleep(time.Millisecond)
				continue
			} else if n > 0 {
				allow.Add(-1)
			}
			select {
			case gate <- struct{}{}:
			case <-done:
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	up.Reply(llmtest.Reply{Tokens: tokens, Gate: gate})
	base := "http://" + px.Addr()
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")),
		chromedp.SendKeys(chromedp.ID("message"), "show me the hub"), pressEnter())
	waitFor(t, "the answer's bubble", func() bool { return eval[bool](t, ctx, `!!document.querySelector(".msg.assistant .text")`) })
	recordLast(t, ctx)
	eval[bool](t, ctx, `window.__connects = 0, document.addEventListener("htmx:sse:after:connection", () => window.__connects++), true`)
	drop := func(what, ready string) {
		t.Helper()
		waitFor(t, what, func() bool { return eval[bool](t, ctx, ready) })
		n := eval[int](t, ctx, `window.__connects`)
		allow.Store(0)
		px.setDown(true)
		allow.Store(20) // missed by the page
		waitFor(t, "twenty tokens while the network is down", func() bool { return allow.Load() == 0 })
		px.setDown(false)
		waitFor(t, "the stream to come back after a drop in "+what, func() bool { return eval[int](t, ctx, `window.__connects`) > n })
		allow.Store(-1)
	}
	drop("the code block to grow", `(c => !!c && c.textContent.split("\n").length > 30)(document.querySelector(".msg.assistant code"))`)
	eval[bool](t, ctx, `window.__anchor = document.createTreeWalker(document.querySelector(".msg.assistant code"), NodeFilter.SHOW_TEXT).nextNode(), true`)
	drop("the list", `!!document.querySelector(".msg.assistant li:nth-child(5)")`)
	if !eval[bool](t, ctx, `window.__anchor.isConnected`) {
		t.Error("the code block shown before a drop was replaced after it, not continued")
	}
	waitText(t, ctx, ".msg.assistant.state-done .text", "the answer", func(s string) bool { return strings.Contains(s, "That is the whole list.") })
	want := pageLoad(t, ctx, base)
	if got := undecorated(eval[string](t, ctx, `window.__last`)); got != want {
		t.Errorf("just before its final event the resumed answer was\n%.300s\nnot as a page load shows it\n%.300s", got, want)
	}
	for _, expected := range []string{"Failed to fetch", "network error", "net::ERR_"} {
		log.problems = filterProblems(log.problems, expected)
	}
	log.check(t)
}

// codeAndList returns the long Go code answer of the corpus and then its
// long list, as one answer in tokens of n bytes.
func codeAndList(t *testing.T, n int) []string {
	t.Helper()
	code, err := os.ReadFile("../../markdown/testdata/corpus/long-go-code.md")
	if err != nil {
		t.Fatal(err)
	}
	list, err := os.ReadFile("../../markdown/testdata/corpus/long-list.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(code) + "\n" + string(list)
	var tokens []string
	prev := 0
	for _, end := range cmspec.ChunkEnds(text, n) {
		tokens = append(tokens, text[prev:end])
		prev = end
	}
	return tokens
}

// recordLast makes the page in ctx keep, in window.__last, its answer's
// HTML as it was at its last change before the answer ended.
func recordLast(t *testing.T, ctx context.Context) {
	t.Helper()
	eval[bool](t, ctx, `(() => {
	  const body = document.querySelector(".msg.assistant .text");
	  new MutationObserver(() => { if (document.querySelector(".msg.assistant.state-streaming")) window.__last = body.innerHTML; })
	    .observe(body, { childList: true, subtree: true, characterData: true, attributes: true });
	  return true;
	})()`)
}

// pageLoad returns the answer's HTML as a new tab shows the page of ctx
// (at base), undecorated.
func pageLoad(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	fresh, cancel := chromedp.NewContext(ctx)
	defer cancel()
	do(t, fresh, chromedp.Navigate(base+eval[string](t, ctx, "location.pathname")))
	return undecorated(eval[string](t, fresh, `document.querySelector(".msg.assistant .text").innerHTML`))
}

// undecorated takes out of an answer's HTML what the page's script adds:
// it marks the Copy buttons it has translated (l10n), a decoration of the
// page, not of the answer's nodes.
var undecorated = strings.NewReplacer(" l10n", "").Replace
