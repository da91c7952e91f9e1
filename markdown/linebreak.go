package markdown

import (
	"bytes"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/util"
)

// noRune stands for what is not a character of text on one side of a soft
// line break: the start or end of the block, another line break, or an
// inline element whose text is not looked at (raw HTML, an image shown by
// its URL). It is not a wide character, so the break is kept next to it.
const noRune rune = -1

// renderText renders a text node as goldmark's html renderer does (with
// the same writer, which drops "\ " as extension.CJK asks; raw text, as in
// code spans, without any line break), except for soft line breaks.
//
// A soft line break (a line end inside a paragraph) renders as "\n", as
// CommonMark says, except between two East Asian wide characters, where it
// renders as nothing: Japanese and Chinese put no space between words, so
// a line end inside a sentence must not become one. "Wide" is goldmark's
// test, that of the EastAsianLineBreaksSimple style extension.CJK turns
// on: util.IsEastAsianWideRune (Hiragana, Katakana, Han, Lm, Hangul, CJK
// Symbols and Punctuation) on both sides.
//
// goldmark's renderer makes that test only when the text node that ends
// the line is followed by another text node; before emphasis, a code span,
// a link or anything else it drops the break whatever the characters are,
// so that "see\n*this*" rendered "seethis" (goldmark issue 582), and after
// an inline element it always keeps it, so that "日本語の**強調**\nです" got a
// break inside the sentence. Here the test is made on the characters that
// actually render on either side (joinsLines), looking into and out of
// inline elements; New does not turn goldmark's test on.
func renderText(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.Text)
	if n.IsRaw() {
		textWriter.RawWrite(w, n.Value(source))
		return ast.WalkContinue, nil
	}
	textWriter.Write(w, n.Value(source))
	switch {
	case n.HardLineBreak():
		_, _ = w.WriteString("<br>\n")
	case n.SoftLineBreak() && !joinsLines(source, n):
		_ = w.WriteByte('\n')
	}
	return ast.WalkContinue, nil
}

// joinsLines reports whether the soft line break at the end of n renders as
// nothing: whether the last character rendered before it and the first
// rendered after it, within the block, are both East Asian wide.
func joinsLines(source []byte, n *ast.Text) bool {
	before := lastRuneBefore(source, n)
	if before == noRune || !util.IsEastAsianWideRune(before) {
		return false
	}
	after := firstRuneAfter(source, n)
	return after != noRune && util.IsEastAsianWideRune(after)
}

// lastRuneBefore returns the last character that renders before the line
// break at the end of n: the end of n's own text, or else of the inline
// nodes before it, in the order they render, up to the start of the block.
func lastRuneBefore(source []byte, n *ast.Text) rune {
	if r, found := textEdge(source, n, true); found {
		return r
	}
	for c := ast.Node(n); ; {
		if prev := c.PreviousSibling(); prev != nil {
			if r, found := edgeRune(source, prev, true); found {
				return r
			}
			c = prev
			continue
		}
		if c = c.Parent(); c == nil || c.Type() != ast.TypeInline {
			return noRune
		}
	}
}

// firstRuneAfter returns the first character that renders after the line
// break at the end of n: the start of the inline nodes after it, in the
// order they render (out of the elements n is in, into the ones that
// follow), up to the end of the block.
func firstRuneAfter(source []byte, n *ast.Text) rune {
	for c := ast.Node(n); ; {
		if next := c.NextSibling(); next != nil {
			if r, found := edgeRune(source, next, false); found {
				return r
			}
			c = next
			continue
		}
		if c = c.Parent(); c == nil || c.Type() != ast.TypeInline {
			return noRune
		}
	}
}

// edgeRune returns the last (last) or first character that inline node n
// renders; found is false when n renders no text at all, so that the
// search goes on past it. A line break met on the way is a noRune.
func edgeRune(source []byte, n ast.Node, last bool) (r rune, found bool) {
	switch n := n.(type) {
	case *ast.Text:
		if last && (n.SoftLineBreak() || n.HardLineBreak()) {
			return noRune, true // the break renders after the text
		}
		if r, found := textEdge(source, n, last); found {
			return r, true
		}
		if n.SoftLineBreak() || n.HardLineBreak() {
			return noRune, true
		}
		return 0, false
	case *ast.String:
		return runeAt(n.Value, last)
	case *ast.AutoLink:
		return runeAt(n.Label(source), last)
	case *ast.Image:
		if !hasText(source, n) {
			return noRune, true // its URL, or blanks
		}
	case *ast.RawHTML:
		return noRune, true // "<…>" as text
	}
	// Emphasis, strong, code spans, links, strikethrough: their children
	// render in order between their tags.
	if last {
		for c := n.LastChild(); c != nil; c = c.PreviousSibling() {
			if r, found := edgeRune(source, c, true); found {
				return r, true
			}
		}
	} else {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			if r, found := edgeRune(source, c, false); found {
				return r, true
			}
		}
	}
	if n.FirstChild() == nil {
		return noRune, true // an element of its own, like a checkbox
	}
	return 0, false
}

// textEdge returns the last (last) or first character of the text of n as
// it renders, not counting its line break; found is false when it renders
// none. Raw text (in code spans) renders as it is, but for a line end in a
// code span, which renders as a space. Other text is rendered with
// textWriter, to resolve entities and backslash escapes, when it has any;
// the characters HTML escapes are ASCII, so taking the first or last of
// the escaped form ("&lt;") classifies them right.
func textEdge(source []byte, n *ast.Text, last bool) (rune, bool) {
	value := n.Value(source)
	if n.IsRaw() {
		if last && len(value) > 0 && value[len(value)-1] == '\n' {
			return ' ', true
		}
		return runeAt(value, last)
	}
	if bytes.ContainsAny(value, "&\\\x00") {
		var w bufWriter
		textWriter.Write(&w, value)
		value = w.Bytes()
	}
	return runeAt(value, last)
}

// runeAt returns the last (last) or first rune of b, and whether b has one.
func runeAt(b []byte, last bool) (rune, bool) {
	if len(b) == 0 {
		return 0, false
	}
	if last {
		r, _ := utf8.DecodeLastRune(b)
		return r, true
	}
	r, _ := utf8.DecodeRune(b)
	return r, true
}
