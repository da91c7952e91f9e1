package markdown

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"
)

// blockTail is the open part of a Stream when it is one list, quote or
// table at the top level: each step renders the block from its last
// children on, so that a token costs the open item, row or child, not the
// whole block. A child that a later one follows cannot change any more (see
// Stream), with one exception that ends the blockTail: a blank line that
// makes a tight list loose changes every item.
//
// The block is rendered from the line where its kept children begin (after
// prefix: a table's header and delimiter rows), and its start tag is the
// reader's (an ordered list rendered from its fifth item would start at 5).
// The reader's element holds the children before them too; the Stream's
// copy of it keeps only the kept ones, which is all that a step changes:
// the element's text before its first child, the one line break after its
// start tag, stands for the reader's after the last child it dropped.
type blockTail struct {
	kind   ast.NodeKind
	prefix string // rendered before the kept part: a table's first two rows, or a loose list's placeholder
	start  int    // where in the text the kept part begins (a line start)
	tag    []byte // the reader's start tag of the block's element
	text   string // the text of the last step
	// A loose list is rendered after a placeholder item and a blank line,
	// so that what is kept of it renders loose too. The placeholder is
	// the first item of the Stream's copy of the reader, never of the
	// reader: no change reaches back to it.
	loose bool
	skip  int // elements of the prefix in the block's element: the placeholder
	// nested is set while the last child ends in an open fenced code
	// block that streams on its own; noNest is 1 + where in the text the
	// fence line of the last code block that could not begins.
	nested *nestedCode
	noNest int
	// The last step's document, of src, which begins at srcOff in the
	// text: what enterNested looks into.
	doc    ast.Node
	src    []byte
	srcOff int
}

// placeholder returns a list item, a blank line after it, that goes before
// the line of the list's item at pos in src, so that the list is loose.
func placeholder(list *ast.List, src []byte, pos int) string {
	line := bytes.LastIndexByte(src[:pos], '\n') + 1
	indent := strings.Repeat(" ", pos-line)
	if list.IsOrdered() {
		return indent + "1" + string(list.Marker) + " x\n\n"
	}
	return indent + string(list.Marker) + " x\n\n"
}

// enterBlock starts rendering the tail as a blockTail if it is one tight
// list, one quote or one table.
func (s *Stream) enterBlock(text string) {
	if len(s.tree) != 2 || !s.tree[0].elem || s.tree[1].elem {
		return
	}
	src := source(text[s.mark:])
	doc, b, ok := s.oneBlock(src, 0)
	if !ok || doc == nil {
		return
	}
	bt := &blockTail{kind: b.Kind(), start: s.mark, tag: bytes.Clone(s.tree[0].raw[:s.tree[0].open]), text: text}
	if l, ok := b.(*ast.List); ok && !l.IsTight {
		// Loose: the copy of the reader gets the placeholder too.
		first := blockPos(l.FirstChild())
		if first < 0 {
			return
		}
		bt.loose, bt.skip = true, 1
		bt.prefix = placeholder(l, src, first)
		h, _, ok := s.renderBlock(bt, []byte(bt.prefix+string(src)))
		if !ok {
			return
		}
		s.tree = parseNodes(h)
	}
	s.block = bt
}

// renderBlock renders src, the text of a blockTail after its prefix, with
// the reader's start tag; ok is false if it is no longer one block of its
// kind, or a tight list turned loose.
func (s *Stream) renderBlock(b *blockTail, src []byte) (h []byte, doc ast.Node, ok bool) {
	doc, block, ok := s.oneBlock(src, b.kind)
	if !ok {
		return nil, nil, false
	}
	if l, isList := block.(*ast.List); isList && l.IsTight == b.loose {
		return nil, nil, false
	}
	s.memo.attach(doc) // the code block a nestedCode streamed, if any
	h, ok = s.renderSafe(src, doc)
	if !ok {
		return nil, nil, false
	}
	gt := bytes.IndexByte(h, '>')
	if gt < 0 {
		return nil, nil, false
	}
	if !bytes.Equal(h[:gt+1], b.tag) {
		h = append(bytes.Clone(b.tag), h[gt+1:]...)
	}
	return h, doc, true
}

// oneBlock parses src and returns its one top-level block, if it is a list,
// a quote or a table, of kind when kind is not 0.
func (s *Stream) oneBlock(src []byte, kind ast.NodeKind) (doc, block ast.Node, ok bool) {
	defer func() {
		if recover() != nil { // a bug in goldmark: let the general path cope
			doc, block, ok = nil, nil, false
		}
	}()
	doc = s.r.parse(src)
	b := doc.FirstChild()
	if b == nil || b.NextSibling() != nil || (kind != 0 && b.Kind() != kind) {
		return nil, nil, false
	}
	switch b := b.(type) {
	case *ast.List, *ast.Blockquote, *east.Table:
		return doc, b, true
	}
	return nil, nil, false
}

// growBlock is Grow while the tail is a blockTail; ok is false when it no
// longer is, and the general path must take over. When the block's last
// child ends in an open fenced code block, the next steps stream that
// block as a nestedCode.
func (s *Stream) growBlock(text string) (ops []Op, ok bool) {
	b := s.block
	b.doc, b.src = nil, nil
	ops, ok = s.stepBlock(text)
	if ok && b.doc != nil {
		s.enterNested(text, b.doc, b.src, b.srcOff)
	}
	b.doc, b.src = nil, nil
	return ops, ok
}

// stepBlock is growBlock's step of the block itself.
func (s *Stream) stepBlock(text string) (ops []Op, ok bool) {
	b := s.block
	if len(text) < b.start {
		return nil, true // not a continuation, as Grow says
	}
	src := source(b.prefix + text[b.start:])
	h, doc, ok := s.renderBlock(b, src)
	if !ok {
		return nil, false
	}
	b.doc, b.src, b.srcOff = doc, src, b.start-len(b.prefix)
	block := doc.FirstChild()
	nodes := parseNodes(h)
	if len(nodes) != 2 {
		return nil, false
	}
	var d differ
	d.children(s.tree, nodes)
	s.tree = nodes
	b.text = text

	// Drop the children that cannot change any more: all but the last two
	// items of a list, all but the last child of a quote, all but the
	// last complete row of a table.
	var kids []ast.Node // the block's children in the source, first to last
	var list *node      // the element whose children they are, in nodes
	switch block.Kind() {
	case east.KindTable:
		body := block.LastChild()
		if body == nil || body.Kind() != east.KindTableRow {
			return d.ops, true
		}
		for c := block.FirstChild(); c != nil; c = c.NextSibling() {
			if c.Kind() == east.KindTableRow {
				kids = append(kids, c)
			}
		}
		list = lastElem(&nodes[0]) // tbody
		if list == nil || !bytes.HasPrefix(list.raw, []byte("<tbody")) {
			return d.ops, true
		}
		if !strings.HasSuffix(text, "\n") {
			kids = kids[:len(kids)-1] // the partial row is not complete
		}
		if len(kids) < 2 {
			return d.ops, true
		}
		kids = kids[:len(kids)-1] // keep the last complete row
	default:
		for c := block.FirstChild(); c != nil; c = c.NextSibling() {
			kids = append(kids, c)
		}
		list = &nodes[0]
		keep := 2
		if block.Kind() == ast.KindBlockquote {
			keep = 1
		}
		if len(kids) <= keep {
			return d.ops, true
		}
		kids = kids[:len(kids)-keep]
	}
	// kids are now the children to drop. The kept part begins on the line
	// of the first child after them.
	next := kids[len(kids)-1].NextSibling()
	pos := blockPos(next)
	if pos < len(b.prefix) || pos > len(src) {
		return d.ops, true
	}
	lineStart := bytes.LastIndexByte(src[:pos], '\n') + 1
	if lineStart < len(b.prefix) {
		return d.ops, true
	}
	// The reader's copy without the dropped children's elements.
	drop := 0
	for _, n := range list.kids {
		if n.elem {
			drop++
		}
	}
	drop -= countKept(next) + b.skip
	if drop <= 0 {
		return d.ops, true
	}
	newStart := b.start + lineStart - len(b.prefix)
	if block.Kind() == east.KindTable && b.prefix == "" {
		// The header and delimiter rows: the lines before the first row.
		first := blockPos(block.FirstChild().NextSibling())
		if first < 0 {
			return d.ops, true
		}
		b.prefix = text[b.start : b.start+bytes.LastIndexByte(src[:first], '\n')+1]
	}
	if b.loose {
		// The placeholder goes before the new first kept item, at its
		// indentation.
		b.prefix = placeholder(block.(*ast.List), src, blockPos(next))
	}
	s.tree = parseNodes(dropElems(h, list, b.skip, drop))
	b.start = newStart
	return d.ops, true
}

// blockPos returns where block n begins in the source: its own position, or
// its first descendant's.
func blockPos(n ast.Node) int {
	for ; n != nil; n = n.FirstChild() {
		if p := n.Pos(); p >= 0 {
			return p
		}
	}
	return -1
}

// countKept returns how many children from n on there are.
func countKept(n ast.Node) int {
	k := 0
	for ; n != nil; n = n.NextSibling() {
		k++
	}
	return k
}

// lastElem returns the last element child of n.
func lastElem(n *node) *node {
	for i := len(n.kids) - 1; i >= 0; i-- {
		if n.kids[i].elem {
			return &n.kids[i]
		}
	}
	return nil
}

// dropElems returns h without drop element children of list (a node of h)
// after its first skip ones, and the text after each.
func dropElems(h []byte, list *node, skip, drop int) []byte {
	off := list.off + list.open // where list's children begin in h
	from, to := -1, -1
	for _, n := range list.kids {
		switch {
		case n.elem && skip > 0:
			skip--
		case n.elem && drop > 0:
			if from < 0 {
				from = off
			}
			drop--
			to = off + len(n.raw)
		case !n.elem && from >= 0 && to == off:
			to = off + len(n.raw) // the text after a dropped element
		}
		off += len(n.raw)
	}
	out := make([]byte, 0, len(h)-(to-from))
	return append(append(out, h[:from]...), h[to:]...)
}

// leaveBlock ends the blockTail: the reader's copy becomes the whole block
// as the general path renders it.
func (s *Stream) leaveBlock() {
	text := s.block.text
	s.block = nil
	s.tree = parseNodes(s.renderText(text[s.mark:]))
}
