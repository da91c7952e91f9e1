package web

import (
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/markdown"
)

// TestTemplates renders every template with the values handlers give it,
// for every state a message can be in, and checks what each must contain.
func TestTemplates(t *testing.T) {
	static, tpl, err := loadAssets()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := loadLocales()
	if err != nil {
		t.Fatal(err)
	}
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
		{"event-final", views[1], []string{`hx-target="#m2"`, `hx-swap="outerHTML"`}},
		{"event-snapshot", views[0], []string{`hx-target="#m1-text"`, `<div id="m1-done"><p>line &lt;script&gt;alert(1)&lt;/script&gt;`}},
		{"alert", alertView{Message: "<oops>"}, []string{"&lt;oops&gt;"}},
	}
	for _, tc := range cases {
		b, err := tpl.render(tc.name, tc.data)
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
// applies them (append to done, replace the tail), end with the full
// rendering of the answer; at every step a snapshot split at the stream's
// mark matches what the steps built; model text is never raw HTML.
func TestMarkdownAnswer(t *testing.T) {
	f := &fragments{md: markdown.New()}
	a := f.open(&hxchat.Message{ID: 5}, nil)
	text := ""
	var done, tail string
	pieces := []string{"# Title\n\n", "Some **bold", "** text <b>raw</b>.\n\n", "- one\n", "- two\n\n", "```go\nfunc main() {", "}\n```\n\n", "日本語の", "段落。"}
	for _, piece := range pieces {
		text += piece
		data, mark := a.Grow(text)
		ev := string(data)
		for _, p := range strings.SplitAfter(ev, "</hx-partial>") {
			if p == "" {
				continue
			}
			body := p[strings.Index(p, ">")+1 : len(p)-len("</hx-partial>")]
			switch {
			case strings.Contains(p, `#m5-done" hx-swap="beforeend"`):
				done += body
			case strings.Contains(p, `#m5-tail" hx-swap="innerHTML"`):
				tail = body
			default:
				t.Fatalf("unexpected partial %q", p)
			}
		}
		snap := f.viewAt(hxchat.Message{ID: 5, Role: hxchat.RoleAssistant}, nil, live.Snap{Text: text, Mark: mark})
		if string(snap.Done) != done || string(snap.Tail) != tail {
			t.Fatalf("after %q: snapshot (%q | %q) differs from the steps (%q | %q)", piece, snap.Done, snap.Tail, done, tail)
		}
		if strings.Contains(ev, "<b>raw") {
			t.Fatalf("raw HTML from the model in %q", ev)
		}
	}
	if want := string(f.md.Render(text)); done+tail != want {
		t.Errorf("steps built\n%s\nwant\n%s", done+tail, want)
	}
	if !strings.Contains(done, "<h1>Title</h1>") || !strings.Contains(done+tail, "<li>two</li>") {
		t.Errorf("not rendered as Markdown: %s", done+tail)
	}
}

// BenchmarkTemplates: the fragments of a first message's answer (the user's
// message, the live answer, the composer, the header and the list entry of
// the new conversation), and the whole of it ("turn").
func BenchmarkTemplates(b *testing.B) {
	_, tpl, err := loadAssets()
	if err != nil {
		b.Fatal(err)
	}
	ls, err := loadLocales()
	if err != nil {
		b.Fatal(err)
	}
	en := ls.get("en")
	now := time.Now()
	conv := &hxchat.Conversation{ID: hxchat.NewID(), Title: "title", CreatedAt: now}
	user := messageView{Message: hxchat.Message{ID: 1, ConversationID: conv.ID, Role: hxchat.RoleUser, Content: "hello", State: hxchat.StateDone, CreatedAt: now}, L: en}
	ans := messageView{Message: hxchat.Message{ID: 2, ConversationID: conv.ID, Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, CreatedAt: now}, L: en, Live: true}
	p := chatPage{Page: Page{L: en, Path: "/c", Title: "t", Provider: "Demo"}, Conv: conv}
	for _, c := range []struct {
		label, name string
		data        any
	}{
		{"user", "message", user}, {"answer", "message", ans}, {"composer", "composer", p},
		{"header", "chat-header", p}, {"entry", "conv-item", p.NewItem()},
		{"turn", "turn", turnView{User: user, Answer: ans, NewConv: &p}},
	} {
		b.Run(c.label, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tpl.render(c.name, c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
