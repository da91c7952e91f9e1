package main

import (
	"bytes"
	"errors"
	"io"

	"github.com/hxchat/hxchat/web"
)

// The browser's side of an answer stream: Server-Sent Events parsed as the
// htmx 4 SSE extension parses them, and the answer's part of the page
// updated by the events' <hx-partial> fragments as htmx swaps them.

// sseEvent is one dispatched event. data is valid until the next call of
// sseReader.next.
type sseEvent struct {
	name    string
	data    []byte
	hasData bool
}

// maxEventBytes bounds one event; a bigger one is a protocol error.
const maxEventBytes = 8 << 20

var errEventTooBig = errors.New("SSE event larger than 8 MiB")

// sseReader parses an event stream: lines end in LF, CRLF or CR; a blank line
// dispatches the event; "data" lines are joined with LF; "id" sets the last
// event id (kept across events, as the browser keeps it); lines starting
// with a colon are comments.
type sseReader struct {
	src    io.Reader
	buf    []byte
	r, w   int // unread bytes are buf[r:w]
	err    error
	skipLF bool // the last line ended in CR: a following LF belongs to it
	lastID string
	data   []byte
	read   int64 // bytes read from src
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{src: r, buf: make([]byte, 8<<10)}
}

// readLine returns the next line without its end. The slice is valid until
// the next call.
func (r *sseReader) readLine() ([]byte, error) {
	for {
		if r.skipLF && r.r < r.w {
			if r.buf[r.r] == '\n' {
				r.r++
			}
			r.skipLF = false
		}
		unread := r.buf[r.r:r.w]
		k := bytes.IndexByte(unread, '\n')
		cr := unread
		if k >= 0 {
			cr = unread[:k]
		}
		if c := bytes.IndexByte(cr, '\r'); c >= 0 {
			k = c
		}
		if k >= 0 {
			line := r.buf[r.r : r.r+k]
			if r.buf[r.r+k] == '\r' {
				r.skipLF = true
			}
			r.r += k + 1
			return line, nil
		}
		if r.err != nil {
			return nil, r.err
		}
		// Make room: move the partial line to the front, or grow.
		if r.r > 0 {
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
		}
		if r.w == len(r.buf) {
			if len(r.buf) >= maxEventBytes {
				return nil, errEventTooBig
			}
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
		n, err := r.src.Read(r.buf[r.w:])
		r.w += n
		r.read += int64(n)
		r.err = err
	}
}

// next reads up to the next dispatched event.
func (r *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	hasID := false
	r.data = r.data[:0]
	for {
		line, err := r.readLine()
		if err != nil {
			return ev, err
		}
		if len(line) == 0 {
			if ev.hasData || hasID || ev.name != "" {
				ev.data = r.data
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue // a comment (keepalive)
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if ev.hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			ev.hasData = true
			if len(r.data) > maxEventBytes {
				return ev, errEventTooBig
			}
		case "event":
			ev.name = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				r.lastID = string(value)
				hasID = true
			}
		}
	}
}

// answerDOM is the answer's part of the page, as htmx leaves it after each
// swap: web.AnswerReader applies hxchat's fragments as the page's script
// does. Tokens are found in the fragments' text as they arrive.
type answerDOM struct {
	r     web.AnswerReader
	final []byte // the answer's text once the final article came
}

var (
	partialOpen  = []byte("<hx-partial")
	partialClose = []byte("</hx-partial>")
)

// apply swaps the fragments of one event's data. Every fragment's text
// (its tags taken out: a highlighted line holds a token in several spans) is
// passed, in order, to scan; onFinal is called before the final article
// replaces the streaming one.
func (d *answerDOM) apply(data []byte, onFinal func(), scan func(content []byte)) {
	if bytes.Contains(data, []byte(`hx-swap="outerHTML"`)) && onFinal != nil {
		onFinal()
	}
	_ = d.r.Apply(data) // a fragment that does not fit counts in r.Unknown
	if d.r.Final != "" {
		d.final = []byte(d.r.HTML())
	}
	for {
		i := bytes.Index(data, partialOpen)
		if i < 0 {
			return
		}
		data = data[i+len(partialOpen):]
		end := bytes.IndexByte(data, '>')
		j := bytes.Index(data, partialClose)
		if end < 0 || j < end {
			return
		}
		scan(textOnly(data[end+1 : j]))
		data = data[j+len(partialClose):]
	}
}

// shown returns the answer's text as the page shows it.
func (d *answerDOM) shown() []byte { return []byte(d.r.HTML()) }

// unknown counts the fragments that did not fit the page.
func (d *answerDOM) unknown() int { return d.r.Unknown }

// scanTokens calls fn with the sequence number and stamp (µs) of every token
// in the text of h (tags skipped), in order. A token is "w{seq}.{stamp}",
// not preceded by a letter or digit, its stamp exactly stampDigits digits.
func scanTokens(h []byte, fn func(seq int, stampUS int64)) {
	inTag := false
	for i := 0; i < len(h); i++ {
		c := h[i]
		if inTag {
			if c == '>' {
				inTag = false
			}
			continue
		}
		if c == '<' {
			inTag = true
			continue
		}
		if c != 'w' || (i > 0 && isAlnum(h[i-1])) {
			continue
		}
		j, seq := i+1, 0
		for j < len(h) && isDigit(h[j]) && j-i <= 9 {
			seq = seq*10 + int(h[j]-'0')
			j++
		}
		if j == i+1 || j >= len(h) || h[j] != '.' {
			continue
		}
		j++
		if j+stampDigits > len(h) || (j+stampDigits < len(h) && isDigit(h[j+stampDigits])) {
			continue
		}
		var stamp int64
		ok := true
		for _, d := range h[j : j+stampDigits] {
			if !isDigit(d) {
				ok = false
				break
			}
			stamp = stamp*10 + int64(d-'0')
		}
		if !ok {
			continue
		}
		fn(seq, stamp)
		i = j + stampDigits - 1
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// tokenSeqs returns the sequence numbers of the tokens in the text of h,
// its tags taken out first: a highlighted line of code holds a token in
// several spans.
func tokenSeqs(h ...[]byte) []int {
	var seqs []int
	for _, b := range h {
		scanTokens(textOnly(b), func(seq int, _ int64) { seqs = append(seqs, seq) })
	}
	return seqs
}

// textOnly returns h without its tags.
func textOnly(h []byte) []byte { return appendTextOnly(make([]byte, 0, len(h)), h) }

// appendTextOnly appends h without its tags to out.
func appendTextOnly(out, h []byte) []byte {
	for len(h) > 0 {
		i := bytes.IndexByte(h, '<')
		if i < 0 {
			return append(out, h...)
		}
		out = append(out, h[:i]...)
		j := bytes.IndexByte(h[i:], '>')
		if j < 0 {
			return out
		}
		h = h[i+j+1:]
	}
	return out
}

// inOrder reports whether seqs is exactly 1..n.
func inOrder(seqs []int, n int) bool {
	if len(seqs) != n {
		return false
	}
	for i, s := range seqs {
		if s != i+1 {
			return false
		}
	}
	return true
}
