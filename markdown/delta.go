package markdown

import (
	"bytes"
	"fmt"
	"html"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Op is one change to the element that shows an answer (its root), as a
// reader applies it:
//
//  1. from the root, step down once for each number n of Path, to the
//     element child that has n element siblings after it (0: the last
//     element child);
//  2. remove the last Cut child nodes of that element (the target);
//  3. remove the last Trim UTF-16 code units of the target's last child,
//     which is then a text node (a text node left empty goes too);
//  4. append HTML at the end of the target; when both the target's last
//     child and the first node of HTML are text, the text joins the last
//     child's instead of making a node of its own.
//
// Step 4's joining keeps the reader's DOM node for node what a fresh parse
// of the answer's HTML gives, with no two text nodes side by side, which
// steps 2 and 3 count on. The answer's wire format (package web) carries
// each Op in an htmx partial, and its script (web/static/app.js) applies it
// exactly so; ApplyOps does the same to a Node tree, for tests.
type Op struct {
	Path      []int
	Cut, Trim int
	HTML      []byte
}

// node is an element or a text of HTML the renderer made, by its bytes: the
// tree that a browser's parser builds from it, for the HTML this package
// writes (well formed, attribute values and text escaped, no comments, no
// element whose parse is special: no <pre> content starts with a newline).
// A node holds its own bytes, so that a tree may take nodes from several
// renderings.
type node struct {
	raw  []byte // the node's HTML
	off  int    // where raw begins in the HTML it was parsed from
	open int    // an element's start tag is raw[:open]
	elem bool   // an element, not text
	kids []node // an element's children
}

// voidElements are the elements without content or end tag that the
// renderer may write.
var voidElements = map[string]bool{"br": true, "hr": true, "input": true, "img": true, "wbr": true}

// parseNodes returns the top-level nodes of h, HTML of this package.
//
// It allocates once, the nodes of the tree: every list of children goes to
// one array, each list where its element closes, instead of an array per
// list grown node by node (a line of highlighted code is dozens of nodes,
// parsed at every token). The lists are built in a scratch array that
// parses share.
func parseNodes(h []byte) []node {
	if len(h) == 0 {
		return nil
	}
	all := make([]node, 0, countNodes(h)) // the lists of children, each where it closed
	sp := scratchNodes.Get().(*[]node)
	cur := (*sp)[:0] // the open elements' children so far, outermost first
	high := 0        // the most of cur used
	defer func() {
		if cap(cur) <= maxScratchNodes {
			clear(cur[:high]) // it refers to h
			*sp = cur[:0]
			scratchNodes.Put(sp)
		}
	}()
	// Of each open element: where in cur its children begin, where it
	// starts, and where its start tag ends (room for the usual depth).
	var sb, ob, tb [16]int
	starts, opens, tags := sb[:0], ob[:0], tb[:0]
	closeElem := func(end int) {
		high = max(high, len(cur))
		k := starts[len(starts)-1]
		kids := cur[k:]
		var list []node
		if len(kids) > 0 {
			all = append(all, kids...)
			list = all[len(all)-len(kids) : len(all) : len(all)]
		}
		start, open := opens[len(opens)-1], tags[len(tags)-1]
		cur = append(cur[:k], node{raw: h[start:end:end], off: start, open: open - start, elem: true, kids: list})
		starts, opens, tags = starts[:len(starts)-1], opens[:len(opens)-1], tags[:len(tags)-1]
	}
	for i := 0; i < len(h); {
		if h[i] != '<' {
			j := bytes.IndexByte(h[i:], '<')
			if j < 0 {
				j = len(h) - i
			}
			cur = append(cur, node{raw: h[i : i+j : i+j], off: i})
			i += j
			continue
		}
		gt := bytes.IndexByte(h[i:], '>')
		if gt < 0 { // not HTML of this package; keep it as text
			cur = append(cur, node{raw: h[i:len(h):len(h)], off: i})
			break
		}
		tag := h[i+1 : i+gt]
		if len(tag) > 0 && tag[0] == '/' {
			// An end tag: it closes the innermost open element.
			if len(opens) == 0 {
				cur = append(cur, node{raw: h[i : i+gt+1 : i+gt+1], off: i})
				i += gt + 1
				continue
			}
			closeElem(i + gt + 1)
			i += gt + 1
			continue
		}
		name := tag
		if k := bytes.IndexAny(tag, " \t\n/"); k >= 0 {
			name = tag[:k]
		}
		if voidElements[string(name)] {
			cur = append(cur, node{raw: h[i : i+gt+1 : i+gt+1], off: i, open: gt + 1, elem: true})
			i += gt + 1
			continue
		}
		starts = append(starts, len(cur))
		opens, tags = append(opens, i), append(tags, i+gt+1)
		i += gt + 1
	}
	// Close what the HTML left open (it does not, but be safe).
	for len(opens) > 0 {
		closeElem(len(h))
	}
	high = max(high, len(cur))
	if len(cur) == 0 {
		return nil
	}
	all = append(all, cur...)
	return all[len(all)-len(cur) : len(all) : len(all)]
}

// scratchNodes holds the scratch arrays of parseNodes (*[]node), up to
// maxScratchNodes nodes each.
var scratchNodes = sync.Pool{New: func() any { return new([]node) }}

const maxScratchNodes = 4096

// countNodes returns how many nodes parseNodes makes of h: an element for
// each start tag, a text before each tag that does not follow another, and
// one at the end. The renderer escapes ">" in text, so a ">" ends a tag.
func countNodes(h []byte) int {
	n := 0
	if h[len(h)-1] != '>' {
		n++ // a text at the end
	}
	for i := 0; ; i++ {
		k := bytes.IndexByte(h[i:], '<')
		if k < 0 {
			return n
		}
		i += k
		if i > 0 && h[i-1] != '>' {
			n++ // a text before the tag
		}
		if i+1 < len(h) && h[i+1] != '/' {
			n++ // a start tag
		}
	}
}

// differ computes the Ops that turn one rendering of an answer's open part
// into the next.
type differ struct {
	path []int // to the element whose children are compared
	ops  []Op
}

// same reports whether nodes a and b are the same HTML.
func same(a, b node) bool {
	return a.elem == b.elem && bytes.Equal(a.raw, b.raw)
}

// children adds the Ops that turn the children old of the element at
// d.path into new: nodes they begin with in common stay; where they part, an
// element that changed inside is changed in place (one level down) if
// nothing after it changed, or only text after it did; anything else is cut
// and appended anew, a text that grew or shrank by its end only being
// trimmed and extended.
func (d *differ) children(old, new []node) {
	p := 0
	for p < len(old) && p < len(new) && same(old[p], new[p]) {
		p++
	}
	if p == len(old) {
		d.tail(nil, new[p:])
		return
	}
	if p < len(new) && old[p].elem && new[p].elem &&
		bytes.Equal(old[p].raw[:old[p].open], new[p].raw[:new[p].open]) {
		switch {
		case onlyText(old[p+1:]):
			// The target's last element; the text after it may change.
			d.path = append(d.path, 0)
			d.children(old[p].kids, new[p].kids)
			d.path = d.path[:len(d.path)-1]
			d.tail(old[p+1:], new[p+1:])
			return
		case sameAll(old[p+1:], new[p+1:]):
			// An element followed by others that did not change, as the
			// cell being written is by the empty ones of its row.
			d.path = append(d.path, elements(old[p+1:]))
			d.children(old[p].kids, new[p].kids)
			d.path = d.path[:len(d.path)-1]
			return
		default:
			// What follows it changed too (a paragraph after a list
			// became its next item, say): cut that, so that the element
			// is the last, change it in place, then append what follows
			// it now. Its own nodes are not sent again.
			d.tail(old[p+1:], nil)
			d.path = append(d.path, 0)
			d.children(old[p].kids, new[p].kids)
			d.path = d.path[:len(d.path)-1]
			d.tail(nil, new[p+1:])
			return
		}
	}
	d.tail(old[p:], new[p:])
}

// sameAll reports whether nodes a are nodes b.
func sameAll(a, b []node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !same(a[i], b[i]) {
			return false
		}
	}
	return true
}

// elements returns how many elements ns holds.
func elements(ns []node) int {
	n := 0
	for _, x := range ns {
		if x.elem {
			n++
		}
	}
	return n
}

// tail adds the Op that turns the last children old of the element at
// d.path into new, the children before them being equal.
func (d *differ) tail(old, new []node) {
	p := 0
	for p < len(old) && p < len(new) && same(old[p], new[p]) {
		p++
	}
	op := Op{Cut: len(old) - p}
	var buf []byte
	if p < len(old) && p < len(new) && !old[p].elem && !new[p].elem {
		// A text that changed: keep what it begins with in common.
		was, is := textOf(old[p].raw), textOf(new[p].raw)
		k := commonRunes(was, is)
		if k > 0 {
			op.Cut--
			op.Trim = utf16Len(was[k:])
			buf = appendEscaped(buf, is[k:])
			p++
		}
	}
	for _, n := range new[p:] {
		buf = append(buf, n.raw...)
	}
	if op.Cut == 0 && op.Trim == 0 && len(buf) == 0 {
		return
	}
	op.Path = slices.Clone(d.path)
	op.HTML = buf
	d.ops = append(d.ops, op)
}

// onlyText reports whether ns holds no element.
func onlyText(ns []node) bool {
	for _, n := range ns {
		if n.elem {
			return false
		}
	}
	return true
}

// textOf returns the text that raw, the HTML of a text node, makes in a
// browser: entities decoded, line breaks normalized as the HTML parser does.
func textOf(raw []byte) string {
	s := string(raw)
	if strings.IndexByte(s, '&') >= 0 {
		s = html.UnescapeString(s)
	}
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	}
	return s
}

// commonRunes returns the length of the longest common prefix of a and b
// that ends at a rune boundary of both.
func commonRunes(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	for n > 0 && n < len(a) && !utf8.RuneStart(a[n]) {
		n--
	}
	return n
}

// utf16Len returns the length of s in UTF-16 code units, as JavaScript
// counts a string.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// appendEscaped appends text s escaped as HTML text.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// String shows op for logs and test failures.
func (o Op) String() string {
	return fmt.Sprintf("{path %v cut %d trim %d append %q}", o.Path, o.Cut, o.Trim, o.HTML)
}
