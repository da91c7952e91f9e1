package markdown

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark/ast"
)

// nestedCode is the open part of a blockTail while its last child ends, at
// any depth, in an open fenced code block: a list item, or a quote, or a
// quote in a list item, that is still being written as code. blockTail
// alone would render the item (and the one before it) at every token, the
// whole code block with it; nestedCode renders the block the way codeTail
// renders a top-level one, from its last piece on, so that a token costs a
// line of code there too.
//
// Each line of the block in the text begins with its containers' marks:
// the same prefix p on every line (spaces for a list item's indentation,
// "> " for a quote), or, on a blank line, those marks up to the last '>'.
// Without them the lines are the code block as a top-level text of its own
// (its fence line, then its lines), and sub streams that text as a
// codeTail. Its Ops, which change the code element, reach the same element
// in the answer through the last element of each container: a path of
// zeros, one per container. Anything else (a line without the prefix, the
// closing fence, a change outside the code element) ends nestedCode, and
// blockTail renders the containers again.
type nestedCode struct {
	sub   *Stream
	depth int    // the containers of the code block: the path's zeros
	list  bool   // the innermost container is a list item, not a quote
	p, q  string // the prefix of a line, and that of a blank one
	pos   int    // where in the text the next line to read begins
	code  []byte // sub's text: the fence line and the lines before pos
}

// enterNested starts streaming the last child of the blockTail as a
// nestedCode, if it ends in an open fenced code block. doc is the document
// growBlock parsed from src, which begins at srcOff in text; s.tree is the
// reader's copy of the block.
func (s *Stream) enterNested(text string, doc ast.Node, src []byte, srcOff int) {
	b := s.block
	depth, list := 0, false
	n := doc.FirstChild()
	var fc *ast.FencedCodeBlock
	for n != nil && fc == nil {
		switch c := n.(type) {
		case *ast.FencedCodeBlock:
			fc = c
		case *ast.List, *ast.ListItem, *ast.Blockquote:
			depth++
			_, list = n.(*ast.ListItem)
			n = n.LastChild()
		default:
			return
		}
	}
	if fc == nil || depth == 0 || fc.Lines().Len() == 0 {
		return
	}
	if _, closed := fc.Attribute(closedFence); closed {
		return
	}
	// The fence line is the one before the first line of code.
	first := bytes.LastIndexByte(src[:fc.Lines().At(0).Start], '\n') + 1
	if first == 0 {
		return
	}
	fenceStart := bytes.LastIndexByte(src[:first-1], '\n') + 1
	if fenceStart < len(b.prefix) || srcOff+fenceStart+1 == b.noNest {
		return // not in the text, or this block did not fit before
	}
	b.noNest = srcOff + fenceStart + 1
	fence := text[srcOff+fenceStart : srcOff+first]
	mark := strings.IndexAny(fence, "`~")
	if mark < 0 {
		return
	}
	p := []byte(fence[:mark])
	for i, c := range p {
		switch {
		case c == ' ' || c == '>':
		case c == '-' || c == '*' || c == '+' || c == '.' || c == ')' || '0' <= c && c <= '9':
			p[i] = ' ' // a list marker: its width in spaces on later lines
		default:
			return
		}
	}
	nc := &nestedCode{depth: depth, list: list, p: string(p), pos: srcOff + fenceStart + len(fence)}
	nc.q = nc.p[:strings.LastIndexByte(nc.p, '>')+1]
	nc.code = append([]byte(nil), fence[mark:]...)
	code, pos, partial, ok := nc.read(text)
	if !ok {
		return
	}
	// The code element as sub renders it must be the reader's.
	reader := &s.tree[0]
	for range depth - 1 {
		if reader = lastElem(reader); reader == nil {
			return
		}
	}
	if reader = lastElem(reader); reader == nil || !bytes.HasPrefix(reader.raw, []byte(`<div class="code">`)) {
		return
	}
	all := string(code) + partial
	sub := s.r.Stream()
	sub.tree = parseNodes(s.r.Render(all))
	if len(sub.tree) == 0 || !same(sub.tree[0], *reader) {
		return
	}
	if sub.enterCode(all); sub.code == nil {
		return
	}
	nc.sub, nc.code, nc.pos = sub, code, pos
	b.nested = nc
}

// read returns sub's text for text: the code of the complete lines from pos
// on added to what it had, where the next line begins, and the code of the
// last, partial line. ok is false if a line does not continue the
// containers as the others did.
func (nc *nestedCode) read(text string) (code []byte, pos int, partial string, ok bool) {
	code, pos = nc.code, nc.pos
	for {
		nl := strings.IndexByte(text[pos:], '\n')
		if nl < 0 {
			break
		}
		c, ok := nc.line(text[pos:pos+nl], false)
		if !ok {
			return nil, 0, "", false
		}
		code = append(append(code[:len(code):len(code)], c...), '\n')
		pos += nl + 1
	}
	partial, ok = nc.line(text[pos:], true)
	return code, pos, partial, ok
}

// line returns the code of one line of the text (without its line break):
// the line without the containers' prefix. A partial line that is still a
// prefix of it shows nothing yet.
func (nc *nestedCode) line(l string, partial bool) (string, bool) {
	if nc.list {
		// In a list item, a line of spaces and tabs after the marks of
		// its quotes is blank: an empty line of code when complete,
		// nothing yet when partial.
		if rest, ok := strings.CutPrefix(l, nc.q); ok && strings.TrimLeft(rest, " \t") == "" {
			return "", true
		}
	}
	switch {
	case strings.HasPrefix(l, nc.p):
		return l[len(nc.p):], true
	case strings.TrimRight(l, " ") == nc.q:
		return "", true // a blank line of a quote
	case partial && strings.HasPrefix(nc.p, l):
		return "", true
	}
	return "", false
}

// growNested is Grow while the blockTail is a nestedCode; ok is false when
// it no longer is, and blockTail must take over from the last step's text.
func (s *Stream) growNested(text string) (ops []Op, ok bool) {
	b := s.block
	nc := b.nested
	if len(text) < nc.pos {
		return nil, true // not a continuation, as Grow says
	}
	code, pos, partial, ok := nc.read(text)
	if !ok {
		return nil, false
	}
	// sub stays as it was if its step does not stay in the code element.
	sub, codeTail, memo := *nc.sub, *nc.sub.code, *nc.sub.memo
	ops = nc.sub.Grow(string(code) + partial)
	stays := nc.sub.code != nil
	for _, op := range ops {
		stays = stays && len(op.Path) > 0
	}
	if !stays {
		*nc.sub = sub
		*nc.sub.code = codeTail
		*nc.sub.memo = memo
		return nil, false
	}
	for i := range ops {
		ops[i].Path = append(make([]int, nc.depth, nc.depth+len(ops[i].Path)), ops[i].Path...)
	}
	nc.code, nc.pos = code, pos
	b.text = text
	return ops, true
}

// leaveNested ends the nestedCode: the reader's copy becomes the block as
// blockTail renders it.
func (s *Stream) leaveNested() {
	b := s.block
	// The pieces of the code block that sub streamed go on serving the
	// renders of the block (and of the open part) until Mark moves past
	// it, as a top-level code block's do (see codeMemo): they are the
	// renders that follow the closing fence.
	s.memo = b.nested.sub.memo
	b.nested = nil
	h, _, ok := s.renderBlock(b, source(b.prefix+b.text[b.start:]))
	if !ok {
		s.leaveBlock()
		return
	}
	s.tree = parseNodes(h)
}
