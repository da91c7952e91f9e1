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
	prefix string // rendered before the kept part: a table's first two rows
	start  int    // where in the text the kept part begins (a line start)
	tag    []byte // the reader's start tag of the block's element
	text   string // the text of the last step
}

// enterBlock starts rendering the tail as a blockTail if it is one tight
// list, one quote or one table.
func (s *Stream) enterBlock(text string) {
	if len(s.tree) != 2 || !s.tree[0].elem || s.tree[1].elem {
		return
	}
	doc, b, ok := s.oneBlock(source(text[s.mark:]), 0)
	if !ok || doc == nil {
		return
	}
	s.block = &blockTail{kind: b.Kind(), start: s.mark, tag: bytes.Clone(s.tree[0].raw[:s.tree[0].open]), text: text}
}

// oneBlock parses src and returns its one top-level block, if it is a list
// (a tight one), a quote or a table, of kind when kind is not 0.
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
	case *ast.List:
		return doc, b, b.IsTight
	case *ast.Blockquote, *east.Table:
		return doc, b, true
	}
	return nil, nil, false
}

// growBlock is Grow while the tail is a blockTail; ok is false when it no
// longer is, and the general path must take over.
func (s *Stream) growBlock(text string) (ops []Op, ok bool) {
	b := s.block
	if len(text) < b.start {
		return nil, true // not a continuation, as Grow says
	}
	src := source(b.prefix + text[b.start:])
	doc, block, ok := s.oneBlock(src, b.kind)
	if !ok {
		return nil, false
	}
	h, ok := s.renderSafe(src, doc)
	if !ok {
		return nil, false
	}
	gt := bytes.IndexByte(h, '>')
	if gt < 0 {
		return nil, false
	}
	if !bytes.Equal(h[:gt+1], b.tag) {
		h = append(bytes.Clone(b.tag), h[gt+1:]...)
	}
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
	drop -= countKept(next)
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
	s.tree = parseNodes(dropElems(h, list, drop))
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

// dropElems returns h without the first drop element children of list (a
// node of h) and the text after each.
func dropElems(h []byte, list *node, drop int) []byte {
	off := list.off + list.open // where list's children begin in h
	from, to := -1, -1
	for _, n := range list.kids {
		switch {
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
	s.tree = parseNodes(s.r.Render(text[s.mark:]))
}
