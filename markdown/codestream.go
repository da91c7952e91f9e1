package markdown

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark/ast"
)

// codeTail is the open part of a Stream when it is one fenced code block at
// the top level, still without its closing fence: the block models answer
// with most, and the one that grows longest. Its pieces before the last are
// final (see highlighter.pieces), so each step renders the block from its
// last piece on: the fence line, then the text from start. A token then
// costs the lines of one piece, however long the block has grown.
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
	c.text = text

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
	s.tree = parseNodes(rest)
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
