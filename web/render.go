package web

import (
	"bytes"
	"html/template"
	"math"
	"strconv"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
	"github.com/hxchat/hxchat/markdown"
)

// fragments renders answers: whole, for pages, and step by step, for their
// streams. An answer's HTML sits in two elements: #mN-done, to which blocks
// that became final are appended, and #mN-tail, the open rest, which each
// step replaces. Every step therefore costs the open tail, not the whole
// answer.
type fragments struct {
	tpl *templates
	md  *markdown.Renderer
}

// view returns a message as a page shows it; an answer's text rendered as
// Markdown.
func (f *fragments) view(m hxchat.Message, l *locale) messageView {
	v := messageView{Message: m, L: l}
	if m.Role == hxchat.RoleAssistant {
		v.Done = template.HTML(f.md.Render(m.Content))
	}
	return v
}

// viewAt returns an answer that is being written as it stands at snap,
// split as its stream splits it, so that the stream's next steps continue it.
func (f *fragments) viewAt(m hxchat.Message, l *locale, snap live.Snap) messageView {
	m.Content = snap.Text
	v := messageView{Message: m, L: l}
	v.Done = template.HTML(f.md.Render(snap.Text[:snap.Mark]))
	v.Tail = template.HTML(f.md.Render(snap.Text[snap.Mark:]))
	if snap.Wait != nil {
		v.Tail = waitStatus(l, *snap.Wait)
	}
	return v
}

// waitStatus says, in place of an answer's first text, that the model
// service is asked again, and when.
func waitStatus(l *locale, r hxchat.Retry) template.HTML {
	key := "answer.wait.other"
	if r.Code == hxchat.ERateLimited {
		key = "answer.wait.rate_limited"
	}
	secs := max(int(math.Ceil(r.After.Seconds())), 1)
	return template.HTML(`<p class="status waiting" role="status">` +
		template.HTMLEscapeString(l.T(key, secs, r.Attempt, r.Of)) + `</p>`)
}

// open returns the renderer of one answer's events, in language l.
func (f *fragments) open(m *hxchat.Message, l *locale) live.AnswerRenderer {
	return &mdAnswer{f: f, l: l, id: "m" + strconv.FormatInt(m.ID, 10), s: f.md.Stream()}
}

// mdAnswer renders the steps of one answer as Markdown, incrementally.
type mdAnswer struct {
	f   *fragments
	l   *locale
	id  string // DOM id of the message
	s   *markdown.Stream
	buf bytes.Buffer
}

// Grow implements live.AnswerRenderer.
func (a *mdAnswer) Grow(text string) ([]byte, int) {
	done, tail := a.s.Grow(text)
	a.buf.Reset()
	if len(done) > 0 {
		a.partial("-done", "beforeend", done)
	}
	a.partial("-tail", "innerHTML", tail)
	return a.buf.Bytes(), a.s.Mark() // copied into the event before the next call
}

// partial writes an htmx partial that swaps html (safe: from the Markdown
// renderer) into the answer's element id+target.
func (a *mdAnswer) partial(target, swap string, html []byte) {
	b := &a.buf
	b.WriteString(`<hx-partial hx-target="#`)
	b.WriteString(a.id)
	b.WriteString(target)
	b.WriteString(`" hx-swap="`)
	b.WriteString(swap)
	b.WriteString(`">`)
	b.Write(html)
	b.WriteString("</hx-partial>")
}

// Wait implements live.AnswerRenderer: until the first text, the answer says
// that the model service is being asked again, and when.
func (a *mdAnswer) Wait(r hxchat.Retry) []byte {
	a.buf.Reset()
	a.partial("-tail", "innerHTML", []byte(waitStatus(a.l, r)))
	return a.buf.Bytes()
}

// Final implements live.AnswerRenderer: the finished bubble replaces the
// streaming one, and with it the element that opened the stream.
func (a *mdAnswer) Final(m *hxchat.Message, err error) []byte {
	return a.f.final(*m, a.l, retryAfterOf(err))
}

// final renders the finished bubble; retryAfter is the wait the model
// service asked for, if it was busy.
func (f *fragments) final(m hxchat.Message, l *locale, retryAfter time.Duration) []byte {
	v := f.view(m, l)
	v.RetryIn = int(math.Ceil(retryAfter.Seconds()))
	v.Last = true // no message can follow an answer while it is written
	b, err := f.tpl.render("event-final", v)
	if err != nil {
		panic("web: render final event: " + err.Error()) // a broken template; TestTemplates catches it
	}
	return b
}

// snapshot renders an answer as it stands at snap, replacing what the page
// shows: the first event of a stream opened without Last-Event-ID.
func (f *fragments) snapshot(m hxchat.Message, l *locale, snap live.Snap) []byte {
	b, err := f.tpl.render("event-snapshot", f.viewAt(m, l, snap))
	if err != nil {
		panic("web: render snapshot event: " + err.Error())
	}
	return b
}
