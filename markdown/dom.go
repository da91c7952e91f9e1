package markdown

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DOM is a reader's copy of an answer's element, as a browser holds it: a
// tree of elements and texts that Apply changes exactly as the page's script
// does. Tests and load programs use it to check what a reader ends up
// with; the page itself never needs it.
type DOM struct {
	root domNode
}

// domNode is an element (tag set: its start tag, name its name) or a text.
type domNode struct {
	tag, name string
	text      string // a text's
	kids      []*domNode
}

// Set replaces the whole content of the element with html, as a snapshot
// does.
func (d *DOM) Set(html []byte) {
	d.root.kids = d.build(html)
}

// build returns the nodes of html, a fragment of this package's HTML.
func (d *DOM) build(html []byte) []*domNode {
	var conv func(ns []node) []*domNode
	conv = func(ns []node) []*domNode {
		out := make([]*domNode, 0, len(ns))
		for _, n := range ns {
			if !n.elem {
				out = append(out, &domNode{text: textOf(n.raw)})
				continue
			}
			tag := string(n.raw[:n.open])
			name := strings.TrimPrefix(tag, "<")
			if i := strings.IndexAny(name, " \t\n/>"); i >= 0 {
				name = name[:i]
			}
			out = append(out, &domNode{tag: tag, name: name, kids: conv(n.kids)})
		}
		return out
	}
	return conv(parseNodes(html))
}

// ErrOp is what Apply returns for an Op that does not fit the DOM it is
// applied to: a reader would be out of step with its answer.
var ErrOp = errors.New("markdown: the change does not fit the reader's copy")

// Apply applies op as the page's script does (see Op).
func (d *DOM) Apply(op Op) error {
	t := &d.root
	for _, n := range op.Path {
		var next *domNode
		for i := len(t.kids) - 1; i >= 0; i-- {
			if t.kids[i].tag == "" {
				continue
			}
			if n == 0 {
				next = t.kids[i]
				break
			}
			n--
		}
		if next == nil {
			return ErrOp
		}
		t = next
	}
	if op.Cut > len(t.kids) {
		return ErrOp
	}
	t.kids = t.kids[:len(t.kids)-op.Cut]
	if op.Trim > 0 {
		if len(t.kids) == 0 || t.kids[len(t.kids)-1].tag != "" {
			return ErrOp
		}
		last := t.kids[len(t.kids)-1]
		// Trim counts UTF-16 code units, as JavaScript does.
		for n := op.Trim; n > 0; {
			r, size := utf8.DecodeLastRuneInString(last.text)
			if size == 0 {
				return ErrOp
			}
			last.text = last.text[:len(last.text)-size]
			if n -= utf16.RuneLen(r); n < 0 {
				return ErrOp // half a surrogate pair
			}
		}
		if len(last.text) == 0 {
			t.kids = t.kids[:len(t.kids)-1]
		}
	}
	add := d.build(op.HTML)
	if len(add) > 0 && add[0].tag == "" && len(t.kids) > 0 && t.kids[len(t.kids)-1].tag == "" {
		last := t.kids[len(t.kids)-1]
		last.text += add[0].text
		add = add[1:]
	}
	t.kids = append(t.kids, add...)
	return nil
}

// HTML returns the content of the element in one canonical form, the same
// for two DOMs that hold the same nodes: compare it with that of a DOM Set
// to the HTML it should hold.
func (d *DOM) HTML() string {
	var b bytes.Buffer
	var write func(ns []*domNode)
	write = func(ns []*domNode) {
		for i, n := range ns {
			if n.tag == "" {
				if i > 0 && ns[i-1].tag == "" {
					b.WriteString("<!--two texts-->") // a reader never has this
				}
				b.Write(appendEscaped(nil, n.text))
				continue
			}
			b.WriteString(n.tag)
			if !voidElements[n.name] {
				write(n.kids)
				b.WriteString("</" + n.name + ">")
			}
		}
	}
	write(d.root.kids)
	return b.String()
}
