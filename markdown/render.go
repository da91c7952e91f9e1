package markdown

import (
	"bytes"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"
)

// safeRenderer replaces goldmark's HTML rendering of every node that can
// carry a URL, raw HTML or code.
type safeRenderer struct {
	hl *highlighter
}

// textWriter escapes text as goldmark's own renderer does with the CJK
// extension (entities and backslash escapes resolved, "\ " dropped).
var textWriter = html.NewWriter(html.WithEscapedSpace())

// RegisterFuncs implements renderer.NodeRenderer.
func (r safeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindText, renderText) // soft line breaks: see renderText
	reg.Register(ast.KindLink, renderLink)
	reg.Register(ast.KindImage, renderImage)
	reg.Register(ast.KindAutoLink, renderAutoLink)
	reg.Register(ast.KindRawHTML, renderRawHTML)
	reg.Register(ast.KindHTMLBlock, renderHTMLBlock)
	reg.Register(ast.KindCodeBlock, r.renderCode)
	reg.Register(ast.KindFencedCodeBlock, r.renderCode)
}

// anchorAttrs closes the href of every <a> and adds what every link has: no
// opener, no referrer, no endorsement, and a new tab.
const anchorAttrs = `" rel="noopener noreferrer nofollow" target="_blank"`

// safeHref returns the href of a URL that may be linked (http://, https:// or
// mailto:, in any letter case), escaped for an attribute value, or nil.
// url must already be percent-encoded by util.URLEscape, so it holds no
// space or control character a browser would skip.
func safeHref(url []byte) []byte {
	if !hasPrefixFold(url, "http://") && !hasPrefixFold(url, "https://") && !hasPrefixFold(url, "mailto:") {
		return nil
	}
	return util.EscapeHTML(url)
}

// hasPrefixFold reports whether b begins with the ASCII prefix, in any case.
func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// linkHref is the href of a Markdown link or image, or nil when it must not
// be linked.
func linkHref(dest []byte) []byte {
	return safeHref(util.URLEscape(dest, true))
}

// inAnchor reports whether n sits inside a link that renders as <a>: a link
// in there must render as text, for <a> cannot nest.
func inAnchor(n ast.Node) bool {
	for p := n.Parent(); p != nil && p.Type() == ast.TypeInline; p = p.Parent() {
		if l, ok := p.(*ast.Link); ok && linkHref(l.Destination) != nil {
			return true
		}
	}
	return false
}

// writeAnchorOpen writes the start tag of a link to href (escaped already),
// with class if not empty.
func writeAnchorOpen(w util.BufWriter, href []byte, class string) {
	_, _ = w.WriteString(`<a href="`)
	_, _ = w.Write(href)
	_, _ = w.WriteString(anchorAttrs)
	if class != "" {
		_, _ = w.WriteString(` class="`)
		_, _ = w.WriteString(class)
		_ = w.WriteByte('"')
	}
	_ = w.WriteByte('>')
}

// renderLink renders an allowed link as <a> and any other as its content.
// The title is dropped.
func renderLink(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.Link)
	href := linkHref(n.Destination)
	if href == nil {
		return ast.WalkContinue, nil
	}
	if entering {
		writeAnchorOpen(w, href, "")
	} else {
		_, _ = w.WriteString("</a>")
	}
	return ast.WalkContinue, nil
}

// renderImage renders an image as a link to it, never as <img>: the alt text
// (or the URL when there is none) is the link's text. A disallowed URL, or an
// image inside a link, renders as the alt text alone.
func renderImage(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.Image)
	href := linkHref(n.Destination)
	if href == nil || inAnchor(n) {
		writePlainText(w, source, n)
		return ast.WalkSkipChildren, nil
	}
	writeAnchorOpen(w, href, "image")
	if hasText(source, n) {
		writePlainText(w, source, n)
	} else {
		_, _ = w.Write(util.EscapeHTML(util.URLEscape(n.Destination, true)))
	}
	_, _ = w.WriteString("</a>")
	return ast.WalkSkipChildren, nil
}

// writePlainText writes the text of n's descendants, escaped, without markup.
// A line break is a space, but a soft one between two East Asian wide
// characters, which is nothing, as in renderText.
func writePlainText(w util.BufWriter, source []byte, n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			if c.IsRaw() {
				textWriter.RawWrite(w, c.Value(source))
			} else {
				textWriter.Write(w, c.Value(source))
			}
			if c.HardLineBreak() || (c.SoftLineBreak() && !joinsLines(source, c)) {
				_ = w.WriteByte(' ')
			}
		case *ast.String:
			textWriter.RawWrite(w, c.Value)
		case *ast.AutoLink:
			_, _ = w.Write(util.EscapeHTML(c.Label(source)))
		default:
			writePlainText(w, source, c)
		}
	}
}

// hasText reports whether n has text other than white space.
func hasText(source []byte, n ast.Node) bool {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			if len(bytes.TrimSpace(c.Value(source))) > 0 {
				return true
			}
		case *ast.String:
			if len(bytes.TrimSpace(c.Value)) > 0 {
				return true
			}
		case *ast.AutoLink:
			return true
		default:
			if hasText(source, c) {
				return true
			}
		}
	}
	return false
}

// renderAutoLink renders <http://…>, <a@b.c> and linkified URLs; a URL of
// another scheme, or one inside a link, renders as its text.
func renderAutoLink(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.AutoLink)
	label := n.Label(source)
	if _, open := n.Attribute(openLink); open {
		_, _ = w.Write(util.EscapeHTML(label))
		return ast.WalkContinue, nil
	}
	url := n.URL(source)
	if n.AutoLinkType == ast.AutoLinkEmail && !hasPrefixFold(url, "mailto:") {
		url = append([]byte("mailto:"), url...)
	}
	href := safeHref(util.URLEscape(url, false))
	if href == nil || inAnchor(n) {
		_, _ = w.Write(util.EscapeHTML(label))
		return ast.WalkContinue, nil
	}
	writeAnchorOpen(w, href, "")
	_, _ = w.Write(util.EscapeHTML(label))
	_, _ = w.WriteString("</a>")
	return ast.WalkContinue, nil
}

// renderRawHTML shows inline raw HTML as text. The parser here never makes
// RawHTML nodes; this is a second wall.
func renderRawHTML(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		n := node.(*ast.RawHTML)
		for i := 0; i < n.Segments.Len(); i++ {
			seg := n.Segments.At(i)
			textWriter.RawWrite(w, seg.Value(source))
		}
	}
	return ast.WalkSkipChildren, nil
}

// renderHTMLBlock shows an HTML block as a paragraph of text. The parser here
// never makes HTMLBlock nodes; this is a second wall.
func renderHTMLBlock(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.HTMLBlock)
	_, _ = w.WriteString("<p>")
	for i := 0; i < n.Lines().Len(); i++ {
		seg := n.Lines().At(i)
		textWriter.RawWrite(w, seg.Value(source))
	}
	if n.HasClosure() {
		textWriter.RawWrite(w, n.ClosureLine.Value(source))
	}
	_, _ = w.WriteString("</p>\n")
	return ast.WalkSkipChildren, nil
}

// renderCode renders fenced and indented code blocks, highlighted: their
// complete lines in pieces (highlighter.writeOpen), so that a token costs
// the lexing of a few lines at most, and a last line without its newline
// yet (the block is still growing, or was cut short) not at all. Both
// depend only on the block's own text, as Stream needs.
func (r safeRenderer) renderCode(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	var lang []byte
	if n, ok := node.(*ast.FencedCodeBlock); ok {
		if l := n.Language(source); l != nil {
			lang = util.ResolveEntityNames(util.ResolveNumericReferences(util.UnescapePunctuations(l)))
			if !utf8.Valid(lang) {
				lang = bytes.ToValidUTF8(lang, []byte("\uFFFD"))
			}
		}
	}
	lines := node.Lines()
	size := 0
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		size += seg.Len() + seg.Padding + 1
	}
	code := make([]byte, 0, size)
	done := 0 // length of the complete lines
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		code = append(code, seg.Value(source)...)
		if raw := source[seg.Start:seg.Stop]; len(raw) > 0 && raw[len(raw)-1] == '\n' {
			done = len(code)
		}
	}
	_, _ = w.WriteString(`<div class="code"><div class="code-head">`)
	if len(lang) > 0 {
		_, _ = w.WriteString(`<span class="code-lang">`)
		_, _ = w.Write(util.EscapeHTML(lang))
		_, _ = w.WriteString(`</span>`)
	}
	_, _ = w.WriteString(`<button type="button" class="copy" data-copy>Copy</button></div><pre class="chroma"><code>`)
	// Closed or not, the complete lines are highlighted in the pieces of
	// a growing block, so that its closing fence changes nothing above it.
	// The first pieces come from the Stream's memo where it has them.
	from := 0
	if m := memoOf(node); m != nil && m.lang == string(lang) && bytes.HasPrefix(code[:done], m.code) {
		for _, h := range m.html {
			_, _ = w.Write(h)
		}
		from = len(m.code)
	}
	r.hl.writeOpen(w, string(lang), code[from:done])
	_, _ = w.Write(util.EscapeHTML(crlfToLF(code[done:])))
	_, _ = w.WriteString("</code></pre></div>\n")
	return ast.WalkSkipChildren, nil
}

// openLink is the mark of a URL that the text of an answer still being
// written ends in (see markOpenLink).
var openLink = []byte("hxchat-open-link")

// markOpenLink marks the URL that src ends in, the last inline of n, if it
// is one that Linkify made a link: only closing punctuation follows it, so
// the next token may make it longer. Such a URL renders as its text (a
// link's href would change at every token, and the link be sent anew), until
// a space or line break ends it or the answer does (Stream.Finish).
func markOpenLink(n ast.Node, src []byte) {
	for ; n != nil; n = n.LastChild() {
		l, ok := n.(*ast.AutoLink)
		if !ok {
			continue
		}
		label := l.Label(src)
		start := cap(src) - cap(label)
		if len(label) == 0 || start < 0 || start >= len(src) || &src[start] != &label[0] {
			return // not a part of src
		}
		for _, c := range src[start+len(label):] {
			if !bytes.ContainsRune([]byte(".,:;!?*_~'\")]"), rune(c)) {
				return
			}
		}
		l.SetAttribute(openLink, true)
		return
	}
}
