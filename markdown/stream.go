package markdown

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
)

// Stream renders one growing answer incrementally, as the Ops that bring a
// reader's copy of the answer from one step to the next. Get one from
// Renderer.Stream and use it from one goroutine at a time.
//
// # What a reader is sent
//
// After each Grow, a reader that applied every Op so far holds exactly the
// nodes of RenderOpen(text), and after Finish those of Render(text) (so the
// end of an answer shows no jump); RenderOpen differs from Render only in
// a URL that the text ends in, which shows as text until something follows
// it, so that it is not sent anew as a link at every token. The Ops
// only ever extend what it holds: a node it was shown stays, and grows at
// its end; what is cut is the innermost open piece. Bytes on the wire follow
// what is new, not the size of the block that is still open: a code block
// gets each line once (its last, unfinished line and the highlighting of the
// lines since the last new piece of it being re-sent, see highlighter), a
// list its items, a table its rows, a paragraph its words.
//
// Some later text changes how earlier text parses, and then more is cut
// and sent again, back to the innermost element that contains the change:
//   - a setext underline ("---" or "===") turns the paragraph above into a
//     heading, and a table's delimiter row turns it into a table;
//   - a closing delimiter turns the text since its opener into emphasis,
//     a code span, a link or strikethrough, and a finished entity or URL
//     becomes a character or a link;
//   - a blank line between two items of a list makes the whole list loose
//     (its items get paragraphs);
//   - a lazy continuation line joins the paragraph of a quote or list item
//     that a reader saw as ended, and a line can end a list item or quote
//     that the one before seemed to continue;
//   - the second line of an item can turn "1." or "-" alone into a list,
//     the first line of a fence becomes a code block once it is three
//     backticks long, and a closing fence highlights the block's last piece
//     for good.
//
// # Block finality
//
// Grow parses only text[Mark():]. A top-level block B of it is final when a
// later top-level block has begun and the first line of that later block is
// complete (ends in "\n"). CommonMark parses block structure line by line
// and never reopens a closed block: the line that opened the later block
// closed B (and everything before it), and since that line is complete no
// later text can change how it was read. What a closed block renders to
// depends only on its own lines — list tightness and GFM tables are settled
// when the block closes, inline parsing is per block — once link reference
// definitions and heading ids, the two global features, are off (they are).
// So a list that continues across blank lines, a lazy continuation line, a
// setext underline, a table row or an open code fence all keep their block
// in the tail; a block ends only when the next one has visibly started. And
// text[Mark():] parses exactly as it would inside the whole text, since at
// Mark no block is open. Where a block begins is goldmark's position of it
// (ast.Node.Pos); a block without one of its own, like a table made of the
// last lines of a paragraph, is never cut before. Code highlighting, too,
// depends only on the block's own text (see the package comment).
// Render(text[:Mark()]) followed by Render(text[Mark():]) is Render(text):
// a reader that joins late is given that, and the next Ops continue it.
//
// # What a token costs
//
// Grow parses and renders only the open part, so a token costs the open
// block, and for the blocks that grow longest less than that: while the
// open part is one fenced code block, one list, quote or table, or one long
// paragraph, Grow renders it from its last piece of code (codeTail), its
// last children (blockTail) or a cut in the paragraph (paraTail) on, and
// the Stream's copy of the reader holds only that part, with the reader's
// last node before it. A token then costs a line of code, an item, a row,
// a few hundred bytes of a paragraph, however long the block has grown. A
// list item or quote that ends in an open fenced code block streams that
// block from its last piece on as well (nestedCode), at any depth.
// Each of these ends, back to rendering the whole open part, when the
// block ends or changes as a whole (a list that turns loose, a paragraph
// that turns into a heading or a table).
//
// The tests check all of this on a corpus of answers streamed in tokens of
// 1 to 6 bytes and at every rune boundary, on every example of the
// CommonMark spec, and FuzzRender on any input.
type Stream struct {
	r    *Renderer
	mark int
	// The reader's copy of the open part, text[mark:], as the last Grow
	// left it.
	tree []node
	// code is set while the open part is one open fenced code block,
	// block while it is one list, quote or table, para while it is one
	// long paragraph.
	code  *codeTail
	block *blockTail
	para  *paraTail
	// memo, set while the open part's first block is, or (a list or
	// quote) holds, the code block that code or a nestedCode streams or
	// streamed, has the highlighting of that block's final pieces. It goes
	// when Mark moves past the block, or at Finish.
	memo *codeMemo
	// plain, when set, is the open part's HTML, a paragraph of one line of
	// plain words; tree is then out of date, and made from plain when
	// another step needs it.
	plain []byte
	// spare is a buffer for the next plain line's HTML: the plain that a
	// step of prose replaced, which nothing refers to any more.
	spare []byte
	// final is set by Finish: the text is all there is.
	final bool
}

// Finish returns the Ops that bring a reader from the last Grow to the
// answer as Render shows it whole, once its text is all there is (text, the
// whole answer, begins with the last Grow's text): the URL it ends in, if
// any, becomes a link (see RenderOpen), and anything still to show is
// shown. Grow is not called after it.
func (s *Stream) Finish(text string) []Op {
	s.final = true
	ops := s.Grow(text)
	s.memo = nil // nothing is rendered after
	return ops
}

// Stream returns a Stream for one new answer.
func (r *Renderer) Stream() *Stream {
	return &Stream{r: r}
}

// Mark returns the byte offset in the text where the finished part ends.
// It only grows, and always falls at the start of a line.
func (s *Stream) Mark() int {
	return s.mark
}

// Grow renders the answer once more, given its whole text so far, which must
// begin with the text of the previous call, and returns the Ops that bring a
// reader from the previous call's rendering to this one (none when nothing
// shows differently). The Ops' HTML is safe and belongs to the caller. Grow
// parses only the text after Mark, so its cost follows the size of the open
// tail, not of the whole answer.
func (s *Stream) Grow(text string) []Op {
	if s.code != nil {
		if ops, ok := s.growCode(text); ok {
			return ops
		}
		s.leaveCode()
	}
	if s.block != nil && s.block.nested != nil {
		if ops, ok := s.growNested(text); ok {
			return ops
		}
		s.leaveNested() // back to the block, or out of it
	}
	if s.block != nil {
		if ops, ok := s.growBlock(text); ok {
			return ops
		}
		s.leaveBlock()
	}
	if s.para != nil {
		if ops, ok := s.growPara(text); ok {
			return ops
		}
		s.leavePara()
	}
	ops := s.growAll(text)
	if s.plain != nil {
		// One line of plain words: a paragraph, long enough for a
		// paraTail perhaps.
		s.enterPara(text)
	} else if len(s.tree) > 0 && s.tree[0].elem {
		switch t := s.tree[0].raw; {
		case bytes.HasPrefix(t, []byte(`<div class="code">`)):
			s.enterCode(text)
		case bytes.HasPrefix(t, []byte("<ul")), bytes.HasPrefix(t, []byte("<ol")),
			bytes.HasPrefix(t, []byte("<blockquote")), bytes.HasPrefix(t, []byte("<table")):
			s.enterBlock(text)
		case bytes.HasPrefix(t, []byte("<p>")):
			s.enterPara(text)
		}
	}
	return ops
}

// growAll is Grow for any open part: it renders all of it.
func (s *Stream) growAll(text string) []Op {
	done, tail := s.grow(text)
	if done == nil && tail == nil {
		return nil
	}
	if p := s.plain; p != nil && done == nil && plainTail(tail) && len(tail) >= len(p) &&
		bytes.Equal(tail[:len(p)-len("</p>\n")], p[:len(p)-len("</p>\n")]) {
		// The usual step of prose: words added to a line of plain words.
		// The reader's copy is that line, parsed when it is needed.
		s.plain, s.spare = tail, p[:0]
		if len(tail) == len(p) {
			return nil
		}
		return []Op{{Path: firstChild[:1:1], HTML: bytes.Clone(tail[len(p)-len("</p>\n") : len(tail)-len("</p>\n")])}}
	}
	if s.plain != nil {
		s.tree, s.plain = parseNodes(s.plain), nil
	}
	// The rendering of text[previous mark:] is done followed by tail.
	nodes := parseNodes(append(done, tail...))
	var d differ
	d.children(s.tree, nodes)
	// The nodes of done are final: the reader's copy of the open part is
	// what follows them (a text at the seam is one node, and stays).
	nd := 0
	for n := 0; nd < len(nodes) && n+len(nodes[nd].raw) <= len(done); nd++ {
		n += len(nodes[nd].raw)
	}
	s.tree = nodes[nd:]
	if done == nil && plainTail(tail) {
		s.plain = tail
	}
	return d.ops
}

// firstChild is the Path of an Op on the open part's first node. Ops share
// it; no one changes an Op's Path in place (a prefix makes a new one).
var firstChild = []int{0}

// plainTail reports whether tail is a line of plain words in a paragraph,
// as grow renders one without parsing it: its only text has nothing to
// escape.
func plainTail(tail []byte) bool {
	return bytes.HasPrefix(tail, []byte("<p>")) && bytes.HasSuffix(tail, []byte("</p>\n")) &&
		!bytes.ContainsAny(tail[3:len(tail)-5], "<>&\n")
}

// grow renders the answer at text: the HTML of the blocks that became final
// since the previous call (nil if none), and that of the rest, the new tail
// (nil, nil if text does not continue the previous text).
func (s *Stream) grow(text string) (done, tail []byte) {
	if len(text) < s.mark {
		// Not a continuation of the previous text: the finished part
		// cannot be taken back, so render nothing more.
		return nil, nil
	}
	if line, ok := plainLine(text[s.mark:]); ok {
		// The common step of prose: one line of plain words, which no
		// later text can split, renders as itself in a paragraph.
		// Its HTML is made in the spare buffer, which the tail now owns:
		// growAll gives the line it replaces back.
		tail, s.spare = append(append(append(s.spare[:0], "<p>"...), line...), "</p>\n"...), nil
		return nil, tail
	}
	all := source(text[s.mark:])
	defer func() {
		if recover() != nil { // a bug in goldmark or chroma: see fallback
			done, tail = nil, fallback(all)
		}
	}()
	src := all
	doc := s.r.parse(src)
	cut := finalPrefix(doc, src)
	if cut > 0 {
		// The memo serves the block that begins at Mark: here, in done.
		if done = s.r.renderMemo(src[:cut], false, s.memo); len(done) == 0 {
			done = nil // blank lines
		}
		src = src[cut:]
		doc = s.r.parse(src)
	} else {
		s.memo.attach(doc)
	}
	if !s.final {
		markOpenLink(doc, src)
	}
	tail = s.r.renderDoc(src, doc)
	if tail == nil {
		tail = []byte{}
	}
	s.mark += cut // last: a panic above leaves the Stream as it was
	if cut > 0 {
		s.memo = nil // the block it was of is final, and rendered
	}
	return done, tail
}

// finalPrefix returns the length of the longest prefix of src made of final
// blocks (see Stream): the start of the line on which the last top-level
// block whose first line is complete begins; 0 when there is none but the
// first block. A paragraph followed by a blank line is final too, whatever
// follows: a blank line closes it, and only lines right after a paragraph
// (a setext underline, a table's delimiter row, a lazy continuation) could
// change it; the prefix then ends where the next block begins, or after the
// blank line. That is how prose streams: paragraph by paragraph.
func finalPrefix(doc ast.Node, src []byte) int {
	cut := closedFences(doc, src)
	first := doc.FirstChild()
	if first == nil {
		return 0
	}
	prev := first.Pos()
	last := first
	for c := first.NextSibling(); c != nil; c = c.NextSibling() {
		pos := c.Pos()
		if pos < 0 || pos > len(src) || pos <= prev {
			// No position, or that of the block before (a table made
			// of the end of a paragraph has the paragraph's): not a
			// place to cut.
			continue
		}
		prev = pos
		start := bytes.LastIndexByte(src[:pos], '\n') + 1
		if bytes.IndexByte(src[pos:], '\n') < 0 {
			// The block's first line is still open, and any later one
			// too; the block before is final if a blank line ended it.
			if closedParagraph(last, src[:start]) && start > cut {
				cut = start
			}
			return cut
		}
		if start > cut {
			cut = start
		}
		last = c
	}
	if last.NextSibling() == nil && closedParagraph(last, src) {
		// The last block is a paragraph and a blank line followed it:
		// the prefix ends at the start of the last line.
		if end := bytes.LastIndexByte(src, '\n') + 1; end > cut {
			cut = end
		}
	}
	return cut
}

// closedFences returns where the line that closes the last fenced code
// block of doc ends, that block being at the top level and its closing
// fence line complete; 0 if there is none. Nothing after a closing fence
// changes the block, nor anything before it, so the prefix up to there is
// final as soon as the fence is: a code block does not wait for the next
// block to be final, and the text after it is rendered without it.
func closedFences(doc ast.Node, src []byte) int {
	for c := doc.LastChild(); c != nil; c = c.PreviousSibling() {
		fc, ok := c.(*ast.FencedCodeBlock)
		if !ok {
			continue
		}
		if _, closed := fc.Attribute(closedFence); !closed {
			continue
		}
		// The closing fence is the line after the last line of code, or
		// after the opening fence when there is none.
		from := -1
		if n := fc.Lines().Len(); n > 0 {
			from = fc.Lines().At(n - 1).Stop
		} else if p := fc.Pos(); p >= 0 && p <= len(src) {
			if nl := bytes.IndexByte(src[p:], '\n'); nl >= 0 {
				from = p + nl + 1
			}
		}
		if from < 0 || from > len(src) {
			return 0
		}
		nl := bytes.IndexByte(src[from:], '\n')
		if nl < 0 {
			return 0
		}
		return from + nl + 1
	}
	return 0
}

// closedParagraph reports whether n is a paragraph that a blank line ends
// within src: after its last line, src holds only spaces and tabs, over at
// least two line breaks.
func closedParagraph(n ast.Node, src []byte) bool {
	p, ok := n.(*ast.Paragraph)
	if !ok || p.Lines().Len() == 0 {
		return false
	}
	end := p.Lines().At(p.Lines().Len() - 1).Stop
	if end > len(src) {
		return false
	}
	if end > 0 && src[end-1] == '\n' {
		end-- // the line's own break
	}
	breaks := 0
	for _, c := range src[end:] {
		switch c {
		case '\n':
			breaks++
		case ' ', '\t', '\r':
		default:
			return false
		}
	}
	return breaks >= 2
}

// plainLine reports whether src is one line that Markdown renders as a
// paragraph of exactly its bytes after up to three leading spaces (which a
// paragraph drops; four would make code), and returns those bytes. The line
// starts with a letter (no block marker), does not end in a space (which
// would be trimmed), and holds only letters, digits, inner spaces,
// punctuation that starts no inline (no emphasis, code, link, autolink,
// strikethrough, table, entity, escape, and nothing HTML escapes) and no
// "www." (an autolink). TestPlainLine, FuzzRender and the stream tests check
// it against the full renderer.
func plainLine(src string) (string, bool) {
	for n := 0; n < 3 && len(src) > 0 && src[0] == ' '; n++ {
		src = src[1:]
	}
	if len(src) == 0 || src[len(src)-1] == ' ' {
		return "", false
	}
	for i := 0; i < len(src); {
		c := src[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) ||
				(i == 0 && !unicode.IsLetter(r)) {
				return "", false
			}
			i += size
			continue
		}
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i == 0:
			return "", false
		case '0' <= c && c <= '9', c == ' ':
		case c == '.':
			if i >= 3 && (src[i-1]|0x20) == 'w' && (src[i-2]|0x20) == 'w' && (src[i-3]|0x20) == 'w' {
				return "", false // www.
			}
		case c == ',' || c == ';' || c == '?' || c == '(' || c == ')' || c == '/' || c == '%' ||
			c == '-' || c == '+' || c == '=' || c == '$' || c == '\'' || c == '^' || c == '{' || c == '}':
		default:
			return "", false
		}
		i++
	}
	return src, true
}
