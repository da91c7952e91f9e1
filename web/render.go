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

// This file owns the wire format of an answer: the DOM ids of its parts,
// the fragments of its event stream, and how they are swapped. Pages and
// templates take the ids from here (messageView's methods); nothing else
// builds an answer's fragments.
//
// An answer's article #mN holds its text in #mN-body (the Markdown as HTML)
// and, while it is written, the wait of the model service in #mN-wait and
// the element #mN-sse that opens its stream. Each step of the stream is a
// list of markdown.Ops on #mN-body, each in an htmx partial with the swap
// "md" (web/static/app.js applies it as markdown.Op says):
//
//	<hx-partial hx-target="#mN-body" hx-swap="md p:0-1 c:1 t:3">HTML</hx-partial>
//
// p is the Op's Path (numbers joined by "-"), c its Cut and t its Trim, each
// left out when empty or 0. The text a reader was shown is thereby extended,
// never sent again (see markdown.Stream). The final event swaps the article
// for the finished one, whose #mN-body carries hx-preserve: the text stays
// the very DOM the stream built (a fresh page load renders the same).

// Suffixes of the ids of an answer's parts, after the message's own id.
const (
	bodySuffix = "-body" // the answer's text
	waitSuffix = "-wait" // the model service's wait before the first text
	sseSuffix  = "-sse"  // the element that opens the stream
)

// domID returns the id of message id's article.
func domID(id int64) string { return "m" + strconv.FormatInt(id, 10) }

// mdSwap is the swap style of markdown.Ops (app.js registers it).
const mdSwap = "md"

// fragments renders answers: whole, for pages, and step by step, for their
// streams.
type fragments struct {
	tpl *templates
	md  *markdown.Renderer
}

// view returns a message as a page shows it; an answer's text rendered as
// Markdown.
func (f *fragments) view(m hxchat.Message, l *locale) messageView {
	v := bareView(m, l)
	if m.Role == hxchat.RoleAssistant {
		v.Body = template.HTML(f.md.Render(m.Content))
	}
	return v
}

// bareView returns a message as a page shows it, without its text.
func bareView(m hxchat.Message, l *locale) messageView {
	v := messageView{Message: m, L: l, RetryIn: secondsUntil(m.RetryAt), IDs: idsOf(&m), Created: createdOf(&m)}
	v.settle()
	return v
}

// viewAt returns an answer that is being written as it stands at snap,
// rendered as its stream splits it, so that the stream's next steps
// continue it.
func (f *fragments) viewAt(m hxchat.Message, l *locale, snap live.Snap) messageView {
	m.Content = snap.Text
	v := messageView{Message: m, L: l, Wait: snap.Wait, IDs: idsOf(&m), Created: createdOf(&m)}
	v.settle()
	body := f.md.Render(snap.Text[:snap.Mark])
	v.Body = template.HTML(append(body, f.md.RenderOpen(snap.Text[snap.Mark:])...))
	return v
}

// open returns the renderer of one answer's events, in language l.
func (f *fragments) open(m *hxchat.Message, l *locale) live.AnswerRenderer {
	return f.openAt(m, l, versionNav{})
}

// openAt is open for an answer placed among its versions by nav, which its
// final event shows.
func (f *fragments) openAt(m *hxchat.Message, l *locale, nav versionNav) live.AnswerRenderer {
	return &mdAnswer{f: f, l: l, id: domID(m.ID), s: f.md.Stream(), nav: nav}
}

// mdAnswer renders the steps of one answer as Markdown, incrementally.
type mdAnswer struct {
	f       *fragments
	l       *locale
	id      string // DOM id of the message
	s       *markdown.Stream
	waiting bool // the wait of the model service is shown
	nav     versionNav
	buf     bytes.Buffer
}

// Grow implements live.AnswerRenderer.
func (a *mdAnswer) Grow(text string) ([]byte, int) {
	ops := a.s.Grow(text)
	a.buf.Reset()
	if a.waiting {
		// The first text takes the place of the wait.
		a.waiting = false
		a.buf.Write(a.f.render(a.l, "event-wait", waitView{ID: a.id}))
	}
	for _, op := range ops {
		appendOp(&a.buf, a.id, op)
	}
	return a.buf.Bytes(), a.s.Mark() // copied into the event before the next call
}

// Finish implements live.AnswerRenderer.
func (a *mdAnswer) Finish(text string) []byte {
	ops := a.s.Finish(text)
	if len(ops) == 0 {
		return nil
	}
	a.buf.Reset()
	for _, op := range ops {
		appendOp(&a.buf, a.id, op)
	}
	return a.buf.Bytes()
}

// appendOp writes op as the htmx partial that applies it to the body of
// the answer whose article has the DOM id id.
func appendOp(b *bytes.Buffer, id string, op markdown.Op) {
	b.WriteString(`<hx-partial hx-target="#`)
	b.WriteString(id)
	b.WriteString(bodySuffix + `" hx-swap="` + mdSwap)
	if len(op.Path) > 0 {
		b.WriteString(" p:")
		for i, n := range op.Path {
			if i > 0 {
				b.WriteByte('-')
			}
			b.WriteString(strconv.Itoa(n))
		}
	}
	if op.Cut > 0 {
		b.WriteString(" c:")
		b.WriteString(strconv.Itoa(op.Cut))
	}
	if op.Trim > 0 {
		b.WriteString(" t:")
		b.WriteString(strconv.Itoa(op.Trim))
	}
	b.WriteString(`">`)
	b.Write(op.HTML) // safe: from the Markdown renderer
	b.WriteString("</hx-partial>")
}

// Wait implements live.AnswerRenderer: until the first text, the answer says
// that the model service is being asked again, and when.
func (a *mdAnswer) Wait(r hxchat.Retry) []byte {
	a.waiting = true
	return a.f.render(a.l, "event-wait", waitView{ID: a.id, Wait: &r, L: a.l})
}

// Final implements live.AnswerRenderer: the finished article replaces the
// streaming one, keeping the text the stream built; after an internal
// error (a step that could not be rendered, say) it brings the text whole.
func (a *mdAnswer) Final(m *hxchat.Message, err error) []byte {
	var v messageView
	if m.ErrorCode == hxchat.EInternal {
		v = a.f.view(*m, a.l)
	} else {
		// The text is kept, not rendered: rendering it whole once more
		// would cost as much as its whole stream did (code is lexed
		// again once the highlighter has forgotten its lines).
		v = bareView(*m, a.l)
		v.Kept = true
	}
	v.Nav = a.nav
	return a.f.finalView(v, retryAfterOf(err))
}

// final renders the finished answer whole, for a reader that did not follow
// its stream to the end; retryAfter is the wait the model service asked
// for, if it was busy.
func (f *fragments) final(m hxchat.Message, l *locale, retryAfter time.Duration) []byte {
	return f.finalView(f.view(m, l), retryAfter)
}

func (f *fragments) finalView(v messageView, retryAfter time.Duration) []byte {
	if v.RetryIn == 0 {
		if v.RetryIn = int(math.Ceil(retryAfter.Seconds())); v.RetryIn != 0 {
			v.settle() // what the answer says depends on it
		}
	}
	v.Last = true // no message can follow an answer while it is written
	return f.render(v.L, "event-final", v)
}

// snapshot renders an answer as it stands at snap, replacing what the page
// shows: the first event of a stream opened without Last-Event-ID.
func (f *fragments) snapshot(m hxchat.Message, l *locale, snap live.Snap) []byte {
	return f.render(l, "event-snapshot", f.viewAt(m, l, snap))
}

// render renders one of the event templates in language l. They take no input that can
// make them fail (TestTemplates renders each): an error is a broken
// template, and panics.
func (f *fragments) render(l *locale, name string, data any) []byte {
	b, err := f.tpl.render(l, name, data)
	if err != nil {
		panic("web: render " + name + ": " + err.Error())
	}
	return b
}

// waitView is the wait of the model service before an answer's first text,
// or its end (Wait nil).
type waitView struct {
	ID   string // the article's DOM id
	Wait *hxchat.Retry
	L    *locale
}

// WaitID is the id of the element that shows the wait.
func (v waitView) WaitID() string { return v.ID + waitSuffix }

// AnswerSteps returns the data of the events with which the stream of
// answer id shows its text growing to text[:end] for each of ends in turn,
// as a generation sends them: for tests and tools that replay an answer.
func AnswerSteps(id int64, text string, ends []int) [][]byte {
	a := mdAnswer{id: domID(id), s: markdown.New().Stream()}
	steps := make([][]byte, 0, len(ends)+1)
	for _, end := range ends {
		data, _ := a.Grow(text[:end])
		steps = append(steps, bytes.Clone(data))
	}
	if len(ends) > 0 {
		if data := a.Finish(text[:ends[len(ends)-1]]); data != nil {
			steps = append(steps, bytes.Clone(data))
		}
	}
	return steps
}
