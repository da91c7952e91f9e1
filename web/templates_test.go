package web

import (
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
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
		v := newMessageView(m, en)
		v.Live = st == hxchat.StateStreaming
		views = append(views, v)
	}
	user := newMessageView(hxchat.Message{ID: 99, ConversationID: conv.ID, Role: hxchat.RoleUser, Content: "日本語 <i>x</i>", State: hxchat.StateDone}, en)
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
		{"event-snapshot", views[0], []string{`hx-target="#m1-text"`, `<span id="m1-tail">open</span>`}},
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

// TestTextAnswer: the steps of a plain-text answer, applied as the browser
// applies them (append to done, replace the tail), rebuild the text, and
// each step costs the open line only.
func TestTextAnswer(t *testing.T) {
	f := &fragments{}
	a := f.open(&hxchat.Message{ID: 5}, nil).(*textAnswer)
	text := ""
	var done, tail string
	for _, piece := range []string{"Hello", ", world", "\nsecond <b>", " line\n", "\n", "third"} {
		text += piece
		ev := string(a.Grow(text))
		for _, p := range strings.SplitAfter(ev, "</hx-partial>") {
			if p == "" {
				continue
			}
			body := p[strings.Index(p, ">")+1 : len(p)-len("</hx-partial>")]
			switch {
			case strings.Contains(p, `#m5-done" hx-swap="beforeend"`):
				done += unescape(body)
			case strings.Contains(p, `#m5-tail" hx-swap="innerHTML"`):
				tail = unescape(body)
			default:
				t.Fatalf("unexpected partial %q", p)
			}
		}
		if done+tail != text {
			t.Fatalf("after %q: done %q + tail %q != %q", piece, done, tail, text)
		}
		if strings.Contains(ev, "<b>") {
			t.Fatalf("unescaped text in %q", ev)
		}
	}
}

func unescape(s string) string {
	r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&#34;", `"`, "&#39;", "'")
	return r.Replace(s)
}
