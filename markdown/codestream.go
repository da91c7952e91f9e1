package markdown

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/util"
)

// codeTail is the open part of a Stream when it is one fenced code block at
// the top level, still without its closing fence: the block models answer
// with most, and the one that grows longest. Its pieces before the last are
// final (see highlighter.pieces), so each step renders the block from its
// last piece on: the fence line, then the text from start. A token then
// costs the lines of one piece, however long the block has grown; and a
// token that only adds to the last line, which is not complete, costs a
// copy of the HTML and nodes that the Stream holds, not their making
// (growLine).
//
// The reader holds the final pieces' nodes in the code element, then those
// of the rest. The Stream's copy of the reader keeps only the last of the
// final nodes (carry), as the reader has it: a text there is one node with
// the text after it, and a change that reaches back into it must see it
// whole.
type codeTail struct {
	fence string // the opening fence line, with its line break
	start int    // where in the text the last piece begins
	carry []byte // the HTML of the reader's last node before start (nil: none)
	text  string // the text of the last step
	lang  string // the fence's language, made a string once, not at each step
	// html is the HTML that the Stream's copy of the reader (s.tree) was
	// parsed from, its nodes' offsets into it: set by each step of growCode
	// that ends in the codeTail, so that growLine can make the copy of the
	// next step from it without parsing (nil: it cannot).
	html []byte
}

// codeMemo is the highlighting of the final pieces of the code block that
// a Stream streams as a codeTail (at the top level, or in a list or quote
// as a nestedCode's sub), which the Stream keeps until the block itself is
// final (its Mark moves past it) or the answer finishes.
//
// While the block streams, each line is lexed about once: the codeTail
// renders from its last piece on, and the highlighter's cache has that
// piece from the step before. But when the block closes, the general path
// renders it whole: once to leave the codeTail (the reader's copy, which
// the next Ops are diffed against), once more as the final part of the
// answer, and again at Finish while it is the open part. With few streams
// the cache still had the block's pieces; with a thousand code answers at
// once it (bounded) had long forgotten the first lines of each, and chroma
// lexed every block a second time, half the CPU of a code answer. With the
// memo, those renders take the final pieces from here (renderCode) and
// look up only the pieces after them, which the cache has.
//
// This is simpler than building the reader's copy and the final part from
// the pieces in the Stream: the renders, and so the HTML and the Ops, stay
// those of the general path, byte for byte; only where the HTML of the
// block's first pieces comes from changes. Where a piece begins depends
// only on the code before it (see highlighter.pieces), so any code block
// of the same language whose code begins with memo.code renders as the
// memo's pieces followed by the rendering of the code after memo.code;
// renderCode checks that the block it renders is one, so a memo given to
// the wrong render costs nothing but the check.
//
// Its memory is the HTML of the block's pieces (shared with the cache while
// the cache holds them: the same slices) and their code, at most memoMax
// bytes of HTML: past that, the rest of a long block relies on the cache
// as before.
type codeMemo struct {
	lang string   // the block's language, as renderCode resolves it
	code []byte   // the code of the pieces: complete lines, up to where a piece begins
	html [][]byte // the HTML of each piece, in order
	size int      // bytes in html
	full bool     // a piece did not fit: no more are added
}

// memoMax bounds the HTML a codeMemo holds: some 100 KB of code.
const memoMax = 512 << 10

// memoAttr is the attribute by which a Stream hands its codeMemo to
// renderCode, on the fenced code block node it is for. No renderer writes
// the attributes of code blocks.
var memoAttr = []byte("hxchat-code-memo")

// attach gives m to the renderer of the fenced code blocks of doc's first
// block: that block itself, or those in it if it is a list or a quote (a
// nestedCode's block is in one, see leaveNested); m may be nil.
func (m *codeMemo) attach(doc ast.Node) {
	if m != nil {
		m.attachIn(doc.FirstChild())
	}
}

// attachIn is attach for the block n and the blocks in it.
func (m *codeMemo) attachIn(n ast.Node) {
	switch n.(type) {
	case *ast.FencedCodeBlock:
		n.SetAttribute(memoAttr, m)
	case *ast.List, *ast.ListItem, *ast.Blockquote:
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			m.attachIn(c)
		}
	}
}

// memoOf returns the codeMemo attached to node, if any.
func memoOf(node ast.Node) *codeMemo {
	v, ok := node.Attribute(memoAttr)
	if !ok {
		return nil
	}
	m, _ := v.(*codeMemo)
	return m
}

// codeOpen is the start of the code element of a code block.
const codeOpen = `<pre class="chroma"><code>`

// enterCode starts rendering the tail as a codeTail if it is one open
// fenced code block whose fence line is complete. s.tree is its reader's
// copy.
func (s *Stream) enterCode(text string) {
	tail := text[s.mark:]
	nl := strings.IndexByte(tail, '\n')
	if nl < 0 || !strings.Contains(tail[:nl], "`") && !strings.Contains(tail[:nl], "~") {
		return // cheap checks first: no fence line, or not a complete one
	}
	if _, ok := s.openFence(source(tail)); !ok {
		return
	}
	s.code = &codeTail{fence: tail[:nl+1], start: s.mark + nl + 1, text: text}
	s.memo = &codeMemo{}
}

// openFence parses src and reports whether it is one fenced code block and
// nothing else, still open.
func (s *Stream) openFence(src []byte) (doc ast.Node, ok bool) {
	defer func() {
		if recover() != nil { // a bug in goldmark: let the general path cope
			doc, ok = nil, false
		}
	}()
	doc = s.r.parse(src)
	fc, isFence := doc.FirstChild().(*ast.FencedCodeBlock)
	if !isFence || fc.NextSibling() != nil {
		return nil, false
	}
	if _, closed := fc.Attribute(closedFence); closed {
		return nil, false
	}
	return doc, true
}

// growCode is Grow while the tail is a codeTail; ok is false when it no
// longer is (the fence closed), and the general path must take over.
func (s *Stream) growCode(text string) (ops []Op, ok bool) {
	c := s.code
	if len(text) < c.start {
		return nil, true // not a continuation, as Grow says
	}
	if ops, ok := s.growLine(text); ok {
		return ops, true
	}
	// The source, fence line and text, made in one buffer.
	src := make([]byte, 0, len(c.fence)+len(text)-c.start)
	src = sourceOf(append(append(src, c.fence...), text[c.start:]...))
	doc, ok := s.openFence(src)
	if !ok {
		return nil, false
	}
	h, ok := s.renderSafe(src, doc)
	if !ok {
		return nil, false
	}
	i := bytes.Index(h, []byte(codeOpen))
	if i < 0 {
		return nil, false
	}
	content := i + len(codeOpen) // where the code's own nodes begin in h
	if c.carry != nil {
		with := make([]byte, 0, len(h)+len(c.carry))
		h = append(append(append(with, h[:content]...), c.carry...), h[content:]...)
	}
	nodes := parseNodes(h)
	var d differ
	d.children(s.tree, nodes)
	s.tree = nodes
	c.text, c.html = text, h

	// The pieces before the last are final: the next step starts at the
	// last, and keeps of the final ones the reader's last node.
	fc := doc.FirstChild()
	code, complete := codeLines(src, fc)
	lang := ""
	if l := fc.(*ast.FencedCodeBlock).Language(src); l != nil {
		if string(l) != c.lang {
			c.lang = string(l)
		}
		lang = c.lang // as renderCode resolves it: escapes and entities aside
	}
	if strings.ContainsAny(lang, "\\&") {
		return d.ops, true // resolved differently: stay where it is
	}
	l := lexerFor(lang)
	starts := s.r.hl.pieces(l, lang, code[:complete])
	last := starts[len(starts)-1]
	if last == 0 {
		return d.ops, true
	}
	// The final pieces go to the memo, unless this step turns out not to
	// move start (then they are taken back).
	m := s.memo
	kept := len(m.html)
	final := 0
	for k := 0; k+1 < len(starts); k++ {
		p := s.r.hl.piece(l, lang, code[starts[k]:starts[k+1]])
		final += len(p)
		m.html = append(m.html, p)
	}
	// The final part's HTML ends at content+len(carry)+final in h; find the
	// node it ends in, among the code's.
	end := content + len(c.carry) + final
	codeNode := findCode(s.tree)
	if codeNode == nil {
		m.html = m.html[:kept]
		return d.ops, true
	}
	off, keep := content, -1
	for k, n := range codeNode.kids {
		if off+len(n.raw) >= end {
			keep = k
			break
		}
		off += len(n.raw)
	}
	if keep < 0 || (codeNode.kids[keep].elem && off+len(codeNode.kids[keep].raw) != end) {
		m.html = m.html[:kept]
		return d.ops, true // not at a node's end: an element across pieces
	}
	if m.full || m.size+final > memoMax {
		m.html, m.full = m.html[:kept], true
	} else {
		m.lang, m.size = lang, m.size+final
		m.code = append(m.code, code[:last]...)
	}
	// The reader's copy from the node the final part ends in, and that
	// node's final part as the next carry.
	c.carry = bytes.Clone(h[off:end])
	rest := append(bytes.Clone(h[:content]), h[off:]...)
	s.tree, c.html = parseNodes(rest), rest
	// Lines of code are lines of the text: move start by as many.
	for n := bytes.Count(code[:last], []byte{'\n'}); n > 0; n-- {
		c.start += strings.IndexByte(text[c.start:], '\n') + 1
	}
	return d.ops, true
}

// renderSafe renders doc, the document of src, reporting false where
// goldmark or chroma panics (a bug) instead.
func (s *Stream) renderSafe(src []byte, doc ast.Node) (h []byte, ok bool) {
	defer func() {
		if recover() != nil {
			h, ok = nil, false
		}
	}()
	if !s.final {
		markOpenLink(doc, src)
	}
	return s.r.renderDoc(src, doc), true
}

// renderText renders text, the open part of the answer, as the Stream
// shows it: with RenderOpen until Finish, with Render after; a code block
// it begins with from the memo, if any.
func (s *Stream) renderText(text string) []byte {
	return s.r.renderMemo(source(text), !s.final, s.memo)
}

// findCode returns the code element of the code block that tree holds.
func findCode(tree []node) *node {
	if len(tree) == 0 || !tree[0].elem {
		return nil
	}
	div := &tree[0]
	for i := range div.kids {
		pre := &div.kids[i]
		if pre.elem && bytes.HasPrefix(pre.raw, []byte(`<pre`)) && len(pre.kids) == 1 {
			return &pre.kids[0]
		}
	}
	return nil
}

// codeLines returns the code of fenced code block n of src, as renderCode
// reads it, and the length of its complete lines.
func codeLines(src []byte, n ast.Node) (code []byte, complete int) {
	lines := n.Lines()
	size := 0
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		size += seg.Len() // with its padding
	}
	code = make([]byte, 0, size) // made once, not grown line by line
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		code = append(code, seg.Value(src)...)
		if raw := src[seg.Start:seg.Stop]; len(raw) > 0 && raw[len(raw)-1] == '\n' {
			complete = len(code)
		}
	}
	return code, complete
}

// leaveCode ends the codeTail: the reader's copy becomes the whole open
// block as the general path renders it.
func (s *Stream) leaveCode() {
	text := s.code.text
	s.code = nil
	s.tree = parseNodes(s.renderText(text[s.mark:]))
}

// codeFast switches growLine on; tests switch it off to compare with the
// general path.
var codeFast = true

// codeClose ends the HTML of a code block, and so that of a codeTail.
const codeClose = "</code></pre></div>\n"

// codeTextPath is the Path of growLine's Op: the code element, in the pre,
// in the block's div. Ops share it; no one changes an Op's Path in place.
var codeTextPath = []int{0, 0, 0}

// growLine is growCode for the usual step of code: characters added to the
// block's last line, which is not complete. renderCode writes that line as
// plain escaped text, with the line break that goldmark gives a last line
// without one (ast.Segment's ForceNewline), after the highlighted pieces of
// the complete lines, which do not change; so the step only extends the
// code element's last text. growLine makes the Op that the differ would
// make of it, and the copy of the reader that growCode would leave, without
// parsing, rendering or diffing (most of the cost of a token of code: a
// line is lexed once, when it is complete).
//
// It applies only where that is certain, and ok is false otherwise (growCode
// then takes the general path):
//   - the last step was one of growCode's (c.html is the HTML of s.tree),
//     and the text continues it, before the end of its last line too;
//   - the text adds no line break (the line becomes complete, and is
//     lexed);
//   - the line, as it is now, has a character that no closing fence has
//     (other than space, tab, '\v', '\f' and the fence's character): it
//     cannot close the block, now or later;
//   - the line holds no '\r' (the renderer turns CRLF into LF, a reader's
//     parser any CR) nor NUL (which the renderer replaces), and is valid
//     UTF-8, before the step too (source replaces invalid bytes, and a rune
//     cut by the last token showed as such);
//   - if the fence is indented, the line had a character other than space
//     and tab before the step, so that the indentation goldmark takes off
//     its start is settled;
//   - s.tree is the code block as growCode leaves it: its div, then only
//     the line break after it, the pre the div's last element, the code
//     element its only child, each node where c.html has it.
//
// The complete lines do not change, so where the pieces begin does not
// either: the general path would not move start (after a step that did,
// the code from start is one piece, and pieces finds no other in it).
// TestCodeLineFast checks all of this against the general path, Op for Op
// and node for node, at every step of streams of many kinds of code.
func (s *Stream) growLine(text string) (ops []Op, ok bool) {
	c := s.code
	buf := c.html
	if !codeFast || buf == nil || s.final || len(text) <= len(c.text) ||
		text[c.start:len(c.text)] != c.text[c.start:] {
		return nil, false
	}
	delta := text[len(c.text):]
	from := c.start + strings.LastIndexByte(c.text[c.start:], '\n') + 1 // where the line begins
	line := text[from:]
	indent := 0
	for indent < len(c.fence) && c.fence[indent] == ' ' {
		indent++
	}
	if indent == len(c.fence) {
		return nil, false
	}
	fenceChar := c.fence[indent]
	closes := true // the line may be or become a closing fence
	for i := 0; i < len(line); i++ {
		switch b := line[i]; {
		case b == '\n' || b == '\r' || b == 0:
			return nil, false
		case b > ' ' && b != fenceChar:
			closes = false
		}
	}
	was := line[:len(line)-len(delta)] // the line before the step
	if closes || !utf8.ValidString(delta) || !utf8.ValidString(was) ||
		indent > 0 && strings.TrimLeft(was, " \t") == "" {
		return nil, false
	}

	// The nodes of the code element, and their places in buf.
	n := len(buf)
	if len(s.tree) != 2 || !s.tree[0].elem || s.tree[1].elem || string(s.tree[1].raw) != "\n" ||
		!bytes.HasSuffix(buf, []byte(codeClose)) {
		return nil, false
	}
	div := &s.tree[0]
	if len(div.kids) == 0 || len(div.raw) != n-1 || div.off != 0 || &div.raw[0] != &buf[0] {
		return nil, false
	}
	pre := &div.kids[len(div.kids)-1]
	if !pre.elem || len(pre.kids) != 1 || !pre.kids[0].elem ||
		pre.off+len(pre.raw) != n-len("</div>\n") || &pre.raw[0] != &buf[pre.off] {
		return nil, false
	}
	code := &pre.kids[0]
	end := n - len(codeClose) // where the code element's content ends
	if code.off+len(code.raw) != n-len("</pre></div>\n") || &code.raw[0] != &buf[code.off] ||
		!bytes.HasPrefix(code.raw, []byte("<code>")) {
		return nil, false
	}
	var last *node // the code element's last node if a text
	if k := len(code.kids); k > 0 && !code.kids[k-1].elem {
		last = &code.kids[k-1]
		if last.off+len(last.raw) != end || &last.raw[0] != &buf[last.off] {
			return nil, false
		}
	}

	// The line renders as its escaped text and a line break; the step
	// adds the escaped delta before that break, or the delta and the
	// break when the line was empty.
	ins, add := end, 0
	for i := 0; i < len(delta); i++ {
		if e := util.EscapeHTMLByte(delta[i]); e != nil {
			add += len(e)
		} else {
			add++
		}
	}
	op := Op{Path: codeTextPath}
	if was != "" {
		if last == nil || buf[end-1] != '\n' {
			return nil, false
		}
		ins, op.Trim = end-1, 1 // the break goes, and comes back after delta
	} else {
		add++ // the line's break
	}
	// The new HTML, made anew: the nodes of s.tree may be shared (a copy of
	// the Stream, a snapshot that growNested takes), so they stay as they
	// are.
	nb := make([]byte, n+add)
	copy(nb, buf[:ins])
	w := writeEscapedTo(nb[ins:ins], delta)
	if was == "" {
		w = append(w, '\n')
	}
	copy(nb[ins+add:], buf[ins:])
	if len(w) != add {
		return nil, false // cannot be: add counts what is written
	}
	inserted := nb[ins : ins+add]

	// The differ's Op: a text that grew at its end is trimmed back to what
	// it has in common with the new one and extended with the rest,
	// escaped as appendEscaped does ('"' stays); a new text is appended as
	// rendered.
	if last != nil {
		op.HTML = append(appendEscaped(make([]byte, 0, add+1), delta), '\n')
	} else {
		op.HTML = bytes.Clone(inserted)
	}

	// The new copy of the reader: the same nodes, those that hold the
	// insertion grown by add, all in one array.
	k := len(code.kids)
	nk := k
	if last == nil {
		nk++
	}
	all := make([]node, 2+len(div.kids)+1+nk)
	tree, divKids, preKids, codeKids := all[:2:2], all[2:2+len(div.kids):2+len(div.kids)],
		all[2+len(div.kids):3+len(div.kids):3+len(div.kids)], all[3+len(div.kids):]
	grown := func(x node) node {
		x.raw = nb[x.off : x.off+len(x.raw)+add : x.off+len(x.raw)+add]
		return x
	}
	copy(codeKids, code.kids)
	if last != nil {
		codeKids[k-1] = grown(*last)
	} else {
		codeKids[k] = node{raw: inserted[:add:add], off: ins}
	}
	codeNode := grown(*code)
	codeNode.kids = codeKids
	preKids[0] = codeNode
	preNode := grown(*pre)
	preNode.kids = preKids
	copy(divKids, div.kids)
	divKids[len(divKids)-1] = preNode
	tree[0] = grown(*div)
	tree[0].kids = divKids
	tree[1] = node{raw: nb[n+add-1 : n+add : n+add], off: n + add - 1}
	s.tree, c.html, c.text = tree, nb, text
	return []Op{op}, true
}

// writeEscapedTo appends s to b escaped as util.EscapeHTML escapes it.
func writeEscapedTo(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if e := util.EscapeHTMLByte(s[i]); e != nil {
			b = append(b, e...)
		} else {
			b = append(b, s[i])
		}
	}
	return b
}
