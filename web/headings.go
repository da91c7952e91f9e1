package web

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"
)

// nestHeadings returns the Markdown text with each of its headings by
// levels deeper, at most 6, so that a message's own "# Title" sits below
// the heading of the message in an export. A Markdown parser finds the
// headings, so that a "#" in a code block, or in a heading's text, is left
// alone. An ATX heading ("## x") gets more "#"; a setext heading (a line
// underlined with === or ---) becomes an ATX one, as those go no deeper
// than 2. Headings in quotes and lists keep their markers.
func nestHeadings(md string, by int) string {
	src := []byte(md)
	if !bytes.ContainsAny(src, "#=-") {
		return md
	}
	type edit struct {
		start, end int
		with       string
	}
	var edits []edit
	doc := goldmark.DefaultParser().Parse(text.NewReader(src))
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		h, ok := n.(*ast.Heading)
		if !entering || !ok {
			return ast.WalkContinue, nil
		}
		lines := h.Lines()
		if lines.Len() == 0 {
			return ast.WalkSkipChildren, nil // an empty heading: nothing to nest
		}
		level := strings.Repeat("#", min(h.Level+by, 6))
		first := lines.At(0)
		lineStart := bytes.LastIndexByte(src[:first.Start], '\n') + 1
		if prefix := src[lineStart:first.Start]; bytes.IndexByte(prefix, '#') >= 0 {
			// ATX: the run of # before the text (container markers,
			// such as "> ", come before it).
			end := lineStart + bytes.LastIndexByte(prefix, '#') + 1
			start := end
			for start > lineStart && src[start-1] == '#' {
				start--
			}
			edits = append(edits, edit{start, end, level})
			return ast.WalkSkipChildren, nil
		}
		// Setext: its lines, then the underline, become one ATX line.
		var words []string
		for i := range lines.Len() {
			seg := lines.At(i)
			words = append(words, strings.TrimSpace(string(seg.Value(src))))
		}
		last := lines.At(lines.Len() - 1)
		end := lineEnd(src, last.Start) // the end of the text's last line
		if end < len(src) {
			end = lineEnd(src, end+1) // the end of the underline
		}
		edits = append(edits, edit{first.Start, end, level + " " + strings.Join(words, " ")})
		return ast.WalkSkipChildren, nil
	})
	var b strings.Builder
	at := 0
	for _, e := range edits { // in the order of the text
		b.Write(src[at:e.start])
		b.WriteString(e.with)
		at = e.end
	}
	b.Write(src[at:])
	return b.String()
}

// lineEnd returns the index of the line break that ends the line holding
// index i of src, or len(src).
func lineEnd(src []byte, i int) int {
	if j := bytes.IndexByte(src[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(src)
}
