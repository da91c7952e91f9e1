package web

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/markdown"
)

// TestTemplatesFolded renders every template, in both languages, with
// messages in every state and hostile text (markup, quotes, a javascript:
// URL, Japanese) in every field that shows text, once through the sets of
// parseTemplates, whose constants are folded, and once through the same
// templates parsed as they are, which evaluate every call at every render:
// the bytes must be the same.
func TestTemplatesFolded(t *testing.T) {
	static, tpl, ls := testAssets(t)
	plain, err := template.New("").Funcs(templateFuncs(static)).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	templateCases(ls, func(l *locale, name, label string, data any) {
		n++
		got, err := tpl.render(l, name, data)
		if err != nil {
			t.Fatalf("%s %s %s: %v", l.Lang, name, label, err)
		}
		var want bytes.Buffer
		if err := plain.ExecuteTemplate(&want, name, data); err != nil {
			t.Fatalf("%s %s %s, parsed as it is: %v", l.Lang, name, label, err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s %s %s: folded\n%s\nwant\n%s", l.Lang, name, label, got, want.Bytes())
		}
	})
	if n < 500 {
		t.Errorf("only %d renders", n)
	}
	// The folding happened: the message box has no call left, and no
	// constant that html/template escapes at every render.
	for _, lang := range supported {
		tree := tpl.byLang[lang].Lookup("composer").Tree.Root.String()
		if strings.Contains(tree, "{{t ") || strings.Contains(tree, "{{tf ") || strings.Contains(tree, `{{"`) {
			t.Errorf("%s: the message box is not folded: %s", lang, tree)
		}
	}
}

// templateCases calls render with every template, in both languages, in
// many states, with hostile text.
func templateCases(ls *locales, render func(l *locale, name, label string, data any)) {
	f := &fragments{md: markdown.New()}
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 3600))
	hostile := `<script>alert("x")</script> & 'q' "dq" 日本語 {{.}} javascript:alert(1) ` + "`bt`"
	for _, lang := range supported {
		l := ls.get(lang)
		for ci, cid := range []string{"AbCdEf0123456789xyz", `a"b<c>&d'e javascript:x`} {
			conv := &hxchat.Conversation{ID: cid, Title: "title " + hostile, SystemPrompt: "sys " + hostile, Model: "m2", CreatedAt: created, Snippet: "snip " + hostile + " needle end"}
			msg := func(id int64, role hxchat.Role, st hxchat.State, content string) hxchat.Message {
				return hxchat.Message{ID: id, ConversationID: cid, Role: role, State: st, Content: content, CreatedAt: created, RequestID: "req-" + hostile}
			}
			var views []messageView
			views = append(views, f.view(msg(1, hxchat.RoleUser, hxchat.StateDone, "user "+hostile), l))
			live0 := bareView(msg(2, hxchat.RoleAssistant, hxchat.StateStreaming, ""), l)
			live0.Live = true
			views = append(views, live0)
			liveWait := f.viewAt(msg(3, hxchat.RoleAssistant, hxchat.StateStreaming, ""), l, live.Snap{Text: "# h\n\npara " + hostile + "\n\nopen", Wait: &hxchat.Retry{Code: hxchat.ERateLimited, After: 2500 * time.Millisecond, Attempt: 2, Of: 3}})
			liveWait.Live = true
			views = append(views, liveWait)
			done := msg(4, hxchat.RoleAssistant, hxchat.StateDone, "**done** "+hostile)
			done.Usage = hxchat.Usage{PromptTokens: 12345, CompletionTokens: 678}
			dv := f.view(done, l)
			dv.Last = true
			dv.Nav = versionNav{Version: 2, Versions: 3, Prev: 5, Next: 7}
			views = append(views, dv)
			dv2 := f.view(done, l)
			dv2.Nav = versionNav{Version: 1, Versions: 2, Next: 9}
			views = append(views, dv2)
			length := msg(6, hxchat.RoleAssistant, hxchat.StateDone, "cut")
			length.FinishReason = hxchat.FinishLength
			views = append(views, f.view(length, l))
			for i, code := range []hxchat.ErrorCode{hxchat.ERateLimited, hxchat.EUpstreamAuth, hxchat.EUpstreamSetup, hxchat.EQuota, hxchat.EFiltered, hxchat.EContextLength, hxchat.EInternal, hxchat.EUpstream, ""} {
				m := msg(int64(10+i), hxchat.RoleAssistant, hxchat.StateError, "err text")
				m.ErrorCode = code
				v := f.view(m, l)
				v.Last = i%2 == 0
				views = append(views, v)
				if code == hxchat.ERateLimited {
					v.RetryIn = 17
					v.settle()
					views = append(views, v)
					m.RetryAt = created // past: "now"
					views = append(views, f.view(m, l))
				}
			}
			for i, st := range []hxchat.State{hxchat.StateStopped, hxchat.StateInterrupted} {
				v := f.view(msg(int64(30+i), hxchat.RoleAssistant, st, "partial"), l)
				v.Last = true
				views = append(views, v)
			}
			kept := bareView(msg(40, hxchat.RoleAssistant, hxchat.StateDone, "kept"), l)
			kept.Kept = true
			views = append(views, kept)
			userv := f.view(msg(41, hxchat.RoleUser, hxchat.StateDone, "q"), l)
			userv.Nav = versionNav{Version: 3, Versions: 3, Prev: 2}
			views = append(views, userv)

			for i, v := range views {
				label := fmt.Sprint(ci, "-", i)
				render(l, "message", label, v)
				final := v
				final.Last = true
				render(l, "event-final", label, final)
				render(l, "event-snapshot", label, v)
				if v.IsUser {
					render(l, "message-edit", label, v)
				}
			}
			render(l, "event-wait", fmt.Sprint(ci), waitView{ID: "m3", Wait: &hxchat.Retry{Code: hxchat.EUpstream, After: 1500 * time.Millisecond, Attempt: 3, Of: 4}, L: l})
			render(l, "event-wait", fmt.Sprint(ci, "-end"), waitView{ID: "m3"})
			render(l, "log", fmt.Sprint(ci), views)

			user2 := bareView(msg(50, hxchat.RoleUser, hxchat.StateDone, "hello "+hostile), l)
			ans2 := bareView(msg(51, hxchat.RoleAssistant, hxchat.StateStreaming, ""), l)
			ans2.Live = true
			other := hxchat.Conversation{ID: "other", Title: "other " + hostile, Snippet: "zz needle"}
			for pi, pg := range []Page{
				{L: l, Path: "/c/x", Title: "t " + hostile, Provider: "Prov " + hostile, MaxMessageBytes: 32768},
				{L: l, Path: "/", Title: "hxchat", Provider: "Demo", Demo: true, Theme: "dark", MaxMessageBytes: 1024,
					Conversations: []hxchat.Conversation{*conv, other}, CurrentID: cid,
					User: &Identity{Email: "a@b.c", Name: "N " + hostile, Admin: true}, SignOutURL: "/auth/signout", SignOutPost: true},
				{L: l, Path: "/p?" + hostile, Title: "x", Demo: true, BannerHidden: true, Theme: "light", NoComposer: true, NoSidebar: true,
					User: &Identity{Email: "e@x"}, SignOutURL: "https://idp/logout?x=" + hostile},
				{L: l, Path: "/", Query: "needle", Conversations: []hxchat.Conversation{*conv, other}, CurrentID: "other"},
				{L: l, Path: "/", Query: "none"},
			} {
				for mi, models := range [][]string{nil, {"m1"}, {"m1", "m2", "m<3>"}} {
					label := fmt.Sprint(ci, "-", pi, "-", mi)
					newp := chatPage{Page: pg, Models: models}
					convp := chatPage{Page: pg, Conv: conv, Models: models, Messages: views[:4], Saved: mi == 1}
					for _, name := range []string{"chat.html", "composer", "chat-header"} {
						render(l, name, "new-"+label, newp)
						render(l, name, "conv-"+label, convp)
					}
					render(l, "settings", "conv-"+label, convp)
					render(l, "turn", "new-"+label, turnView{User: user2, Answer: ans2, NewConv: &convp})
					render(l, "error.html", label, errorPage{Page: pg, Status: 404, Message: "msg " + hostile})
					render(l, "error.html", "link-"+label, errorPage{Page: pg, Status: 401, Message: "m", Heading: "H " + hostile, Link: "/auth/signin?x=" + hostile, LinkText: "again " + hostile})
				}
				render(l, "conv-list", fmt.Sprint(ci, "-", pi), pg)
			}
			for ii, item := range []convItemView{convItem(*conv, cid, l), convItem(*conv, "no", l), convItem(*conv, cid, l).Found("needle"), convItem(other, cid, l).Found("needle")} {
				label := fmt.Sprint(ci, "-", ii)
				render(l, "conv-item", label, item)
				render(l, "conv-rename", label, item)
				render(l, "conv-renamed", label, item)
				render(l, "turn", "moved-"+label, turnView{User: user2, Answer: ans2, Moved: &item})
				render(l, "message-moved", label, movedView{Message: dv, Moved: item})
				render(l, "log-moved", label, movedView{Log: views[:5], Moved: item})
			}
		}
		render(l, "alert", "x", alertView{Message: "oops " + hostile})
	}
}
