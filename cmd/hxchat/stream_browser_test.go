package main

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/internal/cmspec"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/markdown"
	"github.com/hxchat/hxchat/web"
)

// chunkEnds splits text into chunks of n bytes, each moved forward to a rune
// boundary, and returns where each ends.
func chunkEnds(text string, n int) []int {
	var ends []int
	for i := 0; i < len(text); {
		j := min(i+n, len(text))
		for j < len(text) && !utf8.RuneStart(text[j]) {
			j++
		}
		ends = append(ends, j)
		i = j
	}
	return ends
}

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
			for _, s := range web.AnswerSteps(1, text, chunkEnds(text, n)) {
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
