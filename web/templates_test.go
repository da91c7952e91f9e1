package web

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/cmspec"
	"github.com/hxchat/hxchat/internal/cputime"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/markdown"
)

// TestTemplates renders every template with the values handlers give it,
// for every state a message can be in, and checks what each must contain.
func TestTemplates(t *testing.T) {
	static, tpl, ls := testAssets(t)
	en := ls.get("en")
	now := time.Now()
	conv := &hxchat.Conversation{ID: hxchat.NewID(), Title: "<b>title</b>", CreatedAt: now}
	base := Page{L: en, Path: "/", Title: "t", Provider: "Demo", Demo: true, Conversations: []hxchat.Conversation{*conv}, CurrentID: conv.ID}
	var views []messageView
	for _, st := range []hxchat.State{hxchat.StateStreaming, hxchat.StateDone, hxchat.StateError, hxchat.StateStopped, hxchat.StateInterrupted} {
		m := hxchat.Message{ID: int64(len(views) + 1), ConversationID: conv.ID, Role: hxchat.RoleAssistant,
			Content: "line <script>alert(1)</script>\nopen", State: st, ErrorCode: hxchat.ERateLimited}
		v := (&fragments{md: markdown.New()}).view(m, en)
		v.Live = st == hxchat.StateStreaming
		views = append(views, v)
	}
	user := (&fragments{md: markdown.New()}).view(hxchat.Message{ID: 99, ConversationID: conv.ID, Role: hxchat.RoleUser, Content: "日本語 <i>x</i>", State: hxchat.StateDone}, en)
	views = append(views, user)
	cp := chatPage{Page: base, Conv: conv, Messages: views}
	// Versions: the second of three, in Japanese; the first of two, whose ‹
	// is disabled.
	ja := ls.get("ja")
	second := (&fragments{md: markdown.New()}).view(hxchat.Message{ID: 6, ConversationID: conv.ID, Role: hxchat.RoleUser, Content: "q", State: hxchat.StateDone}, ja)
	second.Nav = versionNav{Version: 2, Versions: 3, Prev: 5, Next: 7}
	firstOf := views[1]
	firstOf.Nav = versionNav{Version: 1, Versions: 2, Next: 9}

	cases := []struct {
		name string
		data any
		want []string
	}{
		{"chat.html", chatPage{Page: base}, []string{`hx-post="/c"`, "Offline demo model", `id="composer"`, static.url("htmx.min.js")}},
		{"chat.html", cp, []string{`hx-post="/c/` + conv.ID + `/messages"`, "&lt;b&gt;title&lt;/b&gt;", "日本語 &lt;i&gt;x&lt;/i&gt;",
			`hx-sse:connect="/c/` + conv.ID + `/m/1/events"`, `hx-sse:close="done"`, `/m/3/retry`, "rate limit", "Stopped.", "Interrupted"}},
		{"error.html", errorPage{Page: base, Status: 404, Message: "Not found."}, []string{"404", "Not found."}},
		{"turn", turnView{User: user, Answer: views[0], NewConv: &cp}, []string{`id="m99"`, `id="m1-sse"`, `hx-target="#composer"`, "<title>"}},
		{"event-final", views[1], []string{`hx-target="#m2"`, `hx-swap="outerHTML"`, `id="m2-body"`, "line &lt;script&gt;"}},
		{"event-snapshot", views[0], []string{`hx-target="#m1-body"`, `hx-swap="innerHTML"><p>line &lt;script&gt;alert(1)&lt;/script&gt;`, `hx-target="#m1-wait"`}},
		{"event-wait", waitView{ID: "m1", Wait: &hxchat.Retry{Code: hxchat.ERateLimited, After: 3 * time.Second, Attempt: 2, Of: 3}, L: en}, []string{`hx-target="#m1-wait"`, `class="status waiting"`, "3"}},
		{"event-wait", waitView{ID: "m1"}, []string{`hx-target="#m1-wait" hx-swap="innerHTML"></hx-partial>`}},
		{"alert", alertView{Message: "<oops>"}, []string{"&lt;oops&gt;"}},
		{"message", second, []string{`aria-label="バージョン 2 / 3"`, `aria-label="前のバージョン"`, `hx-post="/c/` + conv.ID + `/m/5/show"`,
			`aria-label="次のバージョン"`, `hx-post="/c/` + conv.ID + `/m/7/show"`, `class="version-count">2/3</span>`}},
		{"message", firstOf, []string{`data-version="prev" aria-label="Previous version" title="Previous version" disabled>‹</button> <span class="version-count">1/2</span>`,
			`hx-post="/c/` + conv.ID + `/m/9/show" hx-target="#log" hx-swap="innerHTML">›</button>`}},
	}
	for _, tc := range cases {
		l := en
		if v, ok := tc.data.(messageView); ok {
			l = v.L // the versions' case is in Japanese
		}
		b, err := tpl.render(l, tc.name, tc.data)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		out := string(b)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q", tc.name, w)
			}
		}
		if strings.Contains(out, "<script>alert") || strings.Contains(out, "<i>x</i>") {
			t.Errorf("%s: unescaped user or model text in output", tc.name)
		}
	}
}

// TestMarkdownAnswer: the steps of an answer, applied as the browser
// applies them, hold the rendering of the answer so far at every step, and
// so does a snapshot taken at any step; the final event keeps the text the
// steps built; model text is never raw HTML.
func TestMarkdownAnswer(t *testing.T) {
	_, tpl, ls := testAssets(t)
	en := ls.get("en")
	f := &fragments{tpl: tpl, md: markdown.New()}
	m := hxchat.Message{ID: 5, ConversationID: hxchat.NewID(), Role: hxchat.RoleAssistant, State: hxchat.StateStreaming}
	a := f.open(&m, en)
	var rd AnswerReader
	if err := rd.Apply(a.Wait(hxchat.Retry{Code: hxchat.ERateLimited, After: time.Second, Attempt: 2, Of: 3})); err != nil || !strings.Contains(rd.Wait, "waiting") {
		t.Fatalf("wait: %v %q", err, rd.Wait)
	}
	text := ""
	pieces := []string{"# Title\n\n", "Some **bold", "** text <b>raw</b>.\n\n", "- one\n", "- two\n\n", "```go\nfunc main() {", "}\n```\n\n", "| a | b |\n|---|", "---|\n| 1 | 2", " |\n", "日本語の", "段落。"}
	for i, piece := range pieces {
		text += piece
		data, mark := a.Grow(text)
		if err := rd.Apply(data); err != nil {
			t.Fatalf("after %q: %v in %q", piece, err, data)
		}
		if i == 0 && rd.Wait != "" {
			t.Errorf("the first text does not take the place of the wait: %q", rd.Wait)
		}
		want := canonical(f.md.Render(text))
		if got := rd.HTML(); got != want {
			t.Fatalf("after %q: the page holds\n%s\nwant\n%s", piece, got, want)
		}
		snap := f.viewAt(m, en, live.Snap{Text: text, Mark: mark})
		if got := canonical([]byte(snap.Body)); got != want {
			t.Fatalf("after %q: a snapshot holds\n%s\nwant\n%s", piece, got, want)
		}
		if strings.Contains(string(data), "<b>raw") {
			t.Fatalf("raw HTML from the model in %q", data)
		}
	}
	before := rd.HTML()
	m.Content, m.State = text, hxchat.StateDone
	final := a.Final(&m, nil)
	if err := rd.Apply(final); err != nil || rd.Final == "" {
		t.Fatalf("final: %v", err)
	}
	if rd.HTML() != before || strings.Contains(string(final), "日本語") || !strings.Contains(string(final), `id="m5-body" hx-ignore hx-preserve>`) {
		t.Errorf("the final event sends the text again, or does not keep it: %s", final)
	}
	if !strings.Contains(before, "<h1>Title</h1>") || !strings.Contains(before, "<li>two</li>") || !strings.Contains(before, "<td>2</td>") {
		t.Errorf("not rendered as Markdown: %s", before)
	}
	// A reader that did not follow the stream gets the whole answer.
	var late AnswerReader
	if err := late.Apply(f.final(m, en, 0)); err != nil || late.HTML() != before {
		t.Errorf("the whole final: %v\n%s", err, late.HTML())
	}
}

// canonical returns html as a reader's copy of it serializes.
func canonical(html []byte) string {
	var d markdown.DOM
	d.Set(html)
	return d.HTML()
}

// BenchmarkTemplates: the fragments of a first message's answer (the user's
// message, the live answer, the composer, the header and the list entry of
// the new conversation), and the whole of it ("turn"); the final bubble of
// a finished answer ("final", as its stream's last event renders it); the
// empty chat page of a session with ten conversations ("page"). cpu-ns/op
// is the process's CPU time per render.
func BenchmarkTemplates(b *testing.B) {
	_, tpl, ls := testAssets(b)
	en := ls.get("en")
	now := time.Now()
	conv := &hxchat.Conversation{ID: hxchat.NewID(), Title: "title", CreatedAt: now}
	user := bareView(hxchat.Message{ID: 1, ConversationID: conv.ID, Role: hxchat.RoleUser, Content: "hello", State: hxchat.StateDone, CreatedAt: now}, en)
	ans := bareView(hxchat.Message{ID: 2, ConversationID: conv.ID, Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, CreatedAt: now}, en)
	ans.Live = true
	p := chatPage{Page: Page{L: en, Path: "/c", Title: "t", Provider: "Demo"}, Conv: conv}
	done := hxchat.Message{ID: 2, ConversationID: conv.ID, Role: hxchat.RoleAssistant, State: hxchat.StateDone, CreatedAt: now,
		Usage: hxchat.Usage{PromptTokens: 1234, CompletionTokens: 567}}
	final := bareView(done, en) // as mdAnswer.Final makes it, and finalView
	final.Kept, final.Last = true, true
	page := chatPage{Page: Page{L: en, Path: "/", Title: "hxchat", Provider: "Demo", MaxMessageBytes: 32 << 10}}
	for i := range 10 {
		page.Conversations = append(page.Conversations, hxchat.Conversation{ID: hxchat.NewID(), Title: "conversation " + strconv.Itoa(i), CreatedAt: now})
	}
	for _, c := range []struct {
		label, name string
		data        any
	}{
		{"user", "message", user}, {"answer", "message", ans}, {"composer", "composer", p},
		{"header", "chat-header", p}, {"entry", "conv-item", p.NewItem()},
		{"turn", "turn", turnView{User: user, Answer: ans, NewConv: &p}},
		{"final", "event-final", final}, {"page", "chat.html", page},
	} {
		b.Run(c.label, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cputime.Start()
			for b.Loop() {
				if _, err := tpl.render(en, c.name, c.data); err != nil {
					b.Fatal(err)
				}
			}
			cpu.Report(b)
		})
	}
}

// TestAnswerWireBytes streams the answers of the Markdown corpus in tokens
// of 4 bytes, as a generation sends them (web.AnswerSteps, each step an SSE
// event with its id, then the closing events), and checks the bound on what
// a reader downloads: at most twice the final HTML of the answer plus 100
// bytes of framing an event. Figures are logged: run it with -v.
func TestAnswerWireBytes(t *testing.T) {
	files, err := filepath.Glob("../markdown/testdata/corpus/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	_, tpl, ls := testAssets(t)
	f := &fragments{tpl: tpl, md: markdown.New()}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		ends := cmspec.ChunkEnds(text, 4)
		wire, events := 0, 0
		for i, data := range AnswerSteps(7, text, ends) {
			if len(data) == 0 {
				continue
			}
			wire += len(live.AppendEvent(nil, "", live.EventID(7, int64(i+1)), data))
			events++
		}
		m := hxchat.Message{ID: 7, ConversationID: hxchat.NewID(), Role: hxchat.RoleAssistant, Content: text, State: hxchat.StateDone}
		a := f.open(&m, ls.get("en"))
		c := live.Closing(a.Final(&m, nil), m.State)
		id := live.EventID(7, int64(len(ends)+1))
		wire += len(c[0](id)) + len(c[1](id))
		events += 2
		final := len(f.md.Render(text))
		t.Logf("%-24s final %6d B, event stream %7d B in %5d events: %.2f× the final HTML, %.0f B an event", filepath.Base(file), final, wire, events, float64(wire)/float64(final), float64(wire)/float64(events))
		limit := 2*final + 100*events
		if wire > limit {
			t.Errorf("%s: %d bytes on the wire, over %d", filepath.Base(file), wire, limit)
		}
	}
}

// testAssets loads the static files, templates and catalogues as New does.
func testAssets(tb testing.TB) (*staticFiles, *templates, *locales) {
	tb.Helper()
	static, tpl, err := loadAssets()
	if err != nil {
		tb.Fatal(err)
	}
	ls, err := loadLocales()
	if err != nil {
		tb.Fatal(err)
	}
	return static, tpl, ls
}
