package markdown

import (
	"bytes"

	"github.com/yuin/goldmark/ast"
)

// paraTail is the open part of a Stream when it is one long paragraph at the
// top level: each step renders it from a cut on, a place that no later text
// can reach back over (see safeCut), so that a token costs the words since
// the cut, not the whole paragraph. The reader's paragraph holds the text
// before the cut too; the Stream's copy of it begins with the reader's
// last node before the cut (carry), as with codeTail.
type paraTail struct {
	start int    // where in the text the rendered part begins (after a cut)
	carry []byte // the HTML of the reader's text before start, from its last element on
	text  string // the text of the last step
}

// Lengths of a paragraph's rendered part that make a paraTail worth it (to
// enter), and that make it look for a new cut (to move).
const (
	paraEnter = 512
	paraMove  = 512
)

// enterPara starts rendering the tail as a paraTail if it is one long
// paragraph with a safe cut.
func (s *Stream) enterPara(text string) {
	if len(text)-s.mark < paraEnter {
		return
	}
	src := source(text[s.mark:])
	para, ok := s.onePara(src)
	if !ok {
		return
	}
	cut, from := safeCut(src, para)
	if cut <= 0 {
		return
	}
	p := &paraTail{start: s.mark + cut, carry: appendEscaped(nil, string(src[from:cut])), text: text}
	h, ok := s.renderPara(p, source(text[p.start:]))
	if !ok {
		return
	}
	s.tree, s.para, s.plain = parseNodes(h), p, nil
}

// onePara parses src and returns its one block if it is a paragraph.
func (s *Stream) onePara(src []byte) (para ast.Node, ok bool) {
	defer func() {
		if recover() != nil {
			para, ok = nil, false
		}
	}()
	doc := s.r.parse(src)
	p, isPara := doc.FirstChild().(*ast.Paragraph)
	if !isPara || p.NextSibling() != nil {
		return nil, false
	}
	return p, true
}

// renderPara renders src, the text of a paraTail from its start, as the
// reader holds the paragraph from its carry on; ok is false when src is no
// longer the rest of one paragraph, or may not be (a line under it could
// make its last line a table's header).
func (s *Stream) renderPara(p *paraTail, src []byte) (h []byte, ok bool) {
	if i := bytes.IndexByte(src, '\n'); i >= 0 && bytes.ContainsAny(src[i:], "|") {
		return nil, false
	}
	para, ok := s.onePara(src)
	if !ok {
		return nil, false
	}
	h, ok = s.renderSafe(src, para.Parent())
	if !ok || !bytes.HasPrefix(h, []byte("<p>")) {
		return nil, false
	}
	with := make([]byte, 0, len(h)+len(p.carry))
	return append(append(append(with, "<p>"...), p.carry...), h[len("<p>"):]...), true
}

// growPara is Grow while the tail is a paraTail; ok is false when it no
// longer is, and the general path must take over.
func (s *Stream) growPara(text string) (ops []Op, ok bool) {
	p := s.para
	if len(text) < p.start {
		return nil, true
	}
	src := source(text[p.start:])
	h, ok := s.renderPara(p, src)
	if !ok {
		return nil, false
	}
	nodes := parseNodes(h)
	var d differ
	d.children(s.tree, nodes)
	s.tree, p.text = nodes, text
	if len(src) < paraMove {
		return d.ops, true
	}
	// Move the cut forward, within the rendered part.
	para, ok := s.onePara(src)
	if !ok {
		return d.ops, true
	}
	cut, from := safeCut(src, para)
	if cut <= 0 {
		return d.ops, true
	}
	carry := p.carry
	if from > 0 {
		carry = nil // an element lies between: the reader's text node begins after it
	}
	np := &paraTail{start: p.start + cut, carry: appendEscaped(bytes.Clone(carry), string(src[from:cut])), text: text}
	nh, ok := s.renderPara(np, source(text[np.start:]))
	if !ok {
		return d.ops, true
	}
	s.tree, s.para = parseNodes(nh), np
	return d.ops, true
}

// leavePara ends the paraTail: the reader's copy becomes the whole
// paragraph as the general path renders it.
func (s *Stream) leavePara() {
	text := s.para.text
	s.para = nil
	s.tree = parseNodes(s.renderText(text[s.mark:]))
}

// safeCut returns the last place in src, the source of paragraph para, that
// no later text can reach back over, and where the plain text that the
// place ends begins (after the last inline element before it, or 0). The
// place follows a space after a word on the same line (or a "。"), and every
// character before it that could open or close an inline (emphasis, code,
// link, autolink, strikethrough, entity, escape) lies in an inline that is
// complete. Later text can then neither join the text before the place to
// anything after it, nor change how it parses; and the text after it
// parses alone as it does in the paragraph, for what precedes it is a
// space, as the start of a paragraph is (or "。", which Japanese puts where
// English puts a space, and which counts as a space does for emphasis
// here: no opener is left before it to close). 0 when there is no place.
func safeCut(src []byte, para ast.Node) (cut, from int) {
	type span struct{ start, end int }
	var elems []span // the inline elements, by source range
	limit := len(src) - 1
	for c := para.FirstChild(); c != nil; c = c.NextSibling() {
		if t, isText := c.(*ast.Text); isText {
			seg := t.Segment
			if i := bytes.IndexAny(src[seg.Start:seg.Stop], "*_~`[]<>&\\!|"); i >= 0 {
				limit = min(limit, seg.Start+i)
				break
			}
			continue
		}
		start, end := inlineSpan(c)
		if start < 0 || end < start {
			// Its extent is unknown: no place from where it may begin.
			if start >= 0 {
				limit = min(limit, start)
			} else if len(elems) > 0 {
				limit = min(limit, elems[len(elems)-1].end)
			} else {
				limit = 0
			}
			break
		}
		elems = append(elems, span{start, end})
	}
	for i := limit; i >= 3; i-- {
		afterSpace := src[i-1] == ' ' && src[i-2] != ' ' && src[i-2] != '\n'
		afterMaru := string(src[i-3:i]) == "。" // Japanese has no spaces
		if !afterSpace && !afterMaru || src[i] == ' ' || src[i] == '\n' {
			continue
		}
		from, inside := 0, false
		for _, e := range elems {
			if e.start < i && i < e.end {
				inside = true
				break
			}
			if e.end <= i {
				from = max(from, e.end)
			}
		}
		if !inside {
			return i, from
		}
	}
	return 0, 0
}

// inlineSpan returns the source range of an inline element from its text
// descendants (the delimiters around them included as far as they border:
// the range is widened to the neighbouring text nodes).
func inlineSpan(n ast.Node) (start, end int) {
	start, end = -1, -1
	if p, ok := n.PreviousSibling().(*ast.Text); ok {
		start = p.Segment.Stop
	} else if n.PreviousSibling() == nil {
		start = 0
	}
	if nx, ok := n.NextSibling().(*ast.Text); ok {
		end = nx.Segment.Start
	}
	return start, end
}
