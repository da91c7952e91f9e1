package web

import (
	"html/template"
	"strconv"
	"strings"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/live"
)

// fragments renders the events of answer streams. An answer's text sits in
// two elements: #mN-done, to which finished lines are appended, and #mN-tail,
// the open line, which each step replaces. Every step therefore costs the
// length of the open line, not of the whole answer, and a renderer that
// re-renders an open block (Markdown) fits the same two targets.
type fragments struct{ tpl *templates }

// open returns the renderer of one answer's events, in language l.
func (f *fragments) open(m *hxchat.Message, l *locale) live.AnswerRenderer {
	return &textAnswer{f: f, l: l, id: "m" + strconv.FormatInt(m.ID, 10)}
}

// textAnswer renders a plain-text answer: escaped, its line breaks kept (by
// the stylesheet's white-space rule).
type textAnswer struct {
	f    *fragments
	l    *locale
	id   string // DOM id of the message
	done int    // bytes of the text already appended to #id-done
	buf  strings.Builder
}

// Grow implements live.AnswerRenderer.
func (a *textAnswer) Grow(text string) []byte {
	cut := strings.LastIndexByte(text, '\n') + 1
	a.buf.Reset()
	if cut > a.done {
		a.partial("-done", "beforeend", text[a.done:cut])
		a.done = cut
	}
	a.partial("-tail", "innerHTML", text[cut:])
	return []byte(a.buf.String())
}

func (a *textAnswer) partial(target, swap, text string) {
	b := &a.buf
	b.WriteString(`<hx-partial hx-target="#`)
	b.WriteString(a.id)
	b.WriteString(target)
	b.WriteString(`" hx-swap="`)
	b.WriteString(swap)
	b.WriteString(`">`)
	template.HTMLEscape(b, []byte(text))
	b.WriteString("</hx-partial>")
}

// Final implements live.AnswerRenderer: the finished bubble replaces the
// streaming one, and with it the element that opened the stream.
func (a *textAnswer) Final(m *hxchat.Message) []byte {
	return a.f.final(*m, a.l)
}

func (f *fragments) final(m hxchat.Message, l *locale) []byte {
	v := newMessageView(m, l)
	v.Last = true // no message can follow an answer while it is written
	b, err := f.tpl.render("event-final", v)
	if err != nil {
		panic("web: render final event: " + err.Error()) // a broken template; TestTemplates catches it
	}
	return b
}

// snapshot renders the text of an answer so far, replacing what the page
// shows: the first event of a stream opened without Last-Event-ID.
func (f *fragments) snapshot(m hxchat.Message, l *locale) []byte {
	b, err := f.tpl.render("event-snapshot", newMessageView(m, l))
	if err != nil {
		panic("web: render snapshot event: " + err.Error())
	}
	return b
}
