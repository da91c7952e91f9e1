// Package markdown renders the Markdown of LLM answers to safe HTML, in one go
// (Renderer.Render) or incrementally while an answer grows token by token
// (Renderer.Stream).
//
// # Dialect
//
// CommonMark plus GitHub's tables, strikethrough, task lists (disabled
// checkboxes) and autolinks (linkify), with goldmark's CJK support: a soft
// line break between two East Asian wide characters renders as nothing, not as
// a space, whatever inline markup is around them (so "日本語の\n**強調**です"
// joins, and "see\n*this*" keeps its break), and "\ " separates emphasis
// from Japanese text. Math ($…$, $$…$$) stays plain text. Fenced and
// indented code blocks are highlighted with chroma into CSS classes (see
// CSS) and wrapped as
//
//	<div class="code"><div class="code-head"><span class="code-lang">go</span><button type="button" class="copy" data-copy>Copy</button></div><pre class="chroma"><code>…</code></pre></div>
//
// (the code-lang span only when the fence names a language). The textContent of
// the code element is the code itself (CRLF as LF), so a Copy button can take
// it from there. A fenced block without its closing fence yet, as while it
// streams, is already a code block. Its complete lines are highlighted in
// pieces that the lexer starts afresh, a line each but where a string or
// comment runs on (highlighter.pieces), whether the block is closed or not:
// a new line costs the lexing of one piece, the pieces before it never
// change, and the closing fence changes nothing above it. A last line still without its
// newline stays plain. Highlighting is cached per Renderer.
//
// Bytes that are not valid UTF-8 render as '?'.
//
// Two CommonMark features are off because their effect is not local to one
// block, which incremental rendering needs (and which an LLM answer hardly
// uses): link reference definitions (a definition line "[x]: http://…" stays
// a paragraph of text, and so do the reference links that would use it) and
// heading ids.
//
// # Safety
//
// The output is safe to insert into a page as it is, whatever the input:
//   - Raw HTML, block or inline, is not parsed as HTML at all: "<script>" is
//     shown as the text "<script>" (escaped), never dropped or replaced.
//   - Links, autolinks and linkified URLs get an <a> only for http://,
//     https:// and mailto: URLs, with rel="noopener noreferrer nofollow" and
//     target="_blank"; any other link renders as its text. Link titles are
//     dropped.
//   - Images are never fetched: ![alt](url) renders as a link to url (same
//     rules) with class="image" and the alt text as its text, never as <img>.
//   - No attribute from the input reaches the output except escaped href
//     values: goldmark's attribute syntax is off, table alignment is an align
//     attribute (left, center, right), an ordered list's start is a number.
//
// The elements produced are p, h1–h6, ul, ol (start), li, blockquote, pre
// (class chroma), code, em, strong, del, a (href, rel, target, class image),
// table, thead, tbody, tr, th and td (align), hr, br, input (type checkbox,
// disabled, checked), div (class code, code-head), span (class code-lang or a
// chroma token class) and button (type button, class copy, data-copy).
package markdown

import (
	"bytes"
	"unicode/utf8"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Renderer renders Markdown to safe HTML. Build it once with New; it is safe
// for concurrent use.
type Renderer struct {
	md goldmark.Markdown
	hl *highlighter // the code renderer's, which Stream asks where pieces begin
}

// New returns a Renderer of the dialect described in the package comment.
func New() *Renderer {
	// The default parsers less the two raw-HTML parsers (so HTML stays text)
	// and the link reference definition transformer (whose effect is global).
	p := parser.NewParser(
		parser.WithBlockParsers(
			util.Prioritized(parser.NewSetextHeadingParser(), 100),
			util.Prioritized(parser.NewThematicBreakParser(), 200),
			util.Prioritized(parser.NewListParser(), 300),
			util.Prioritized(parser.NewListItemParser(), 400),
			util.Prioritized(parser.NewCodeBlockParser(), 500),
			util.Prioritized(parser.NewATXHeadingParser(), 600),
			util.Prioritized(fenceParser{parser.NewFencedCodeBlockParser()}, 700),
			util.Prioritized(parser.NewBlockquoteParser(), 800),
			util.Prioritized(parser.NewParagraphParser(), 1000),
		),
		parser.WithInlineParsers(
			util.Prioritized(parser.NewCodeSpanParser(), 100),
			util.Prioritized(parser.NewLinkParser(), 200),
			util.Prioritized(parser.NewAutoLinkParser(), 300),
			util.Prioritized(parser.NewEmphasisParser(), 500),
		),
	)
	hl := &highlighter{}
	rd := renderer.NewRenderer(renderer.WithNodeRenderers(
		util.Prioritized(html.NewRenderer(), 1000),
		// Lower value, registered last: overrides the default functions.
		util.Prioritized(safeRenderer{hl: hl}, 100),
	))
	md := goldmark.New(
		goldmark.WithParser(p),
		goldmark.WithRenderer(rd),
		goldmark.WithExtensions(
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignAttribute)),
			extension.Strikethrough,
			extension.TaskList,
			extension.Linkify,
			// extension.CJK less its East Asian line breaks, which
			// renderText does instead (see there).
			extension.NewCJK(extension.WithEscapedSpace()),
		),
	)
	return &Renderer{md: md, hl: hl}
}

// Render renders the Markdown src to safe HTML.
func (r *Renderer) Render(src string) []byte {
	return r.render(source(src))
}

// RenderOpen renders src, the text of an answer still being written, as a
// Stream shows it: as Render does, but for a URL that src ends in (see
// markOpenLink), which shows as text until the answer goes on or ends. A
// reader that joins an answer while it is written gets the text after the
// Stream's Mark rendered so.
func (r *Renderer) RenderOpen(src string) []byte {
	return r.renderOpen(source(src))
}

// renderOpen is RenderOpen for a source.
func (r *Renderer) renderOpen(src []byte) []byte {
	return r.renderMemo(src, true, nil)
}

// source returns text as the parser's source: a copy in which each byte that
// is not part of valid UTF-8 is replaced by '?' (goldmark can panic on such
// bytes). The replacement keeps every offset, and it is the same whether
// text is taken whole or in pieces cut at line ends, as Stream cuts it.
func source(text string) []byte {
	return sourceOf([]byte(text))
}

// sourceOf is source for a copy of the text that it may change: it changes
// it in place and returns it.
func sourceOf(src []byte) []byte {
	if utf8.Valid(src) {
		return src
	}
	for i := 0; i < len(src); {
		if src[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size == 1 {
			src[i] = '?'
		}
		i += size
	}
	return src
}

// render renders src, which it does not keep.
func (r *Renderer) render(src []byte) []byte {
	return r.renderMemo(src, false, nil)
}

// renderMemo renders src as render does, or as renderOpen does if open,
// the fenced code blocks of its first block (that block, or those in it if
// it is a list or a quote) from the pieces of memo, if not nil, where they
// fit (see codeMemo).
func (r *Renderer) renderMemo(src []byte, open bool, memo *codeMemo) (out []byte) {
	defer func() {
		if recover() != nil {
			out = fallback(src)
		}
	}()
	doc := r.parse(src)
	if open {
		markOpenLink(doc, src)
	}
	memo.attach(doc)
	return r.renderDoc(src, doc)
}

// fallback is the rendering of src should goldmark or chroma panic on it (a
// bug): the text, escaped, in a paragraph. It is safe, but a Stream that
// uses it may break the properties it promises.
func fallback(src []byte) []byte {
	out := append([]byte("<p>"), util.EscapeHTML(src)...)
	return append(out, "</p>\n"...)
}

// parse parses src into a document.
func (r *Renderer) parse(src []byte) ast.Node {
	return r.md.Parser().Parse(text.NewReader(src))
}

// renderDoc renders doc, the document of src.
func (r *Renderer) renderDoc(src []byte, doc ast.Node) []byte {
	var w bufWriter
	w.Grow(htmlSize(src, doc))
	// Rendering into memory cannot fail, and no renderer here returns an error.
	_ = r.md.Renderer().Render(&w, src, doc)
	return w.Bytes()
}

// htmlSize is about the size of the HTML of doc, the document of src, so
// that it is rendered into one buffer made once: half as much again as the
// text, and for code blocks at the top level six times their code (a
// highlighted token takes a span: a line of code about as long, when
// rendered, as its text five times) and their head.
func htmlSize(src []byte, doc ast.Node) int {
	n := len(src) + len(src)/2 + 64
	for b := doc.FirstChild(); b != nil; b = b.NextSibling() {
		if _, ok := b.(*ast.FencedCodeBlock); ok {
			n += 256
			lines := b.Lines()
			for i := 0; i < lines.Len(); i++ {
				seg := lines.At(i)
				n += 5 * seg.Len()
			}
		}
	}
	return n
}

// fenceParser is goldmark's fenced code block parser that also marks the
// blocks it closes on their closing fence (closedFence), as opposed to those
// that end with their container or the text.
type fenceParser struct{ parser.BlockParser }

// closedFence is the name of the mark fenceParser sets. Only the Stream reads
// it; no renderer writes the attributes of code blocks.
var closedFence = []byte("hxchat-closed-fence")

// Continue implements parser.BlockParser: the fenced code block parser
// returns Close from Continue only on a closing fence.
func (p fenceParser) Continue(node ast.Node, reader text.Reader, pc parser.Context) parser.State {
	st := p.BlockParser.Continue(node, reader, pc)
	if st&parser.Close != 0 {
		node.SetAttribute(closedFence, true)
	}
	return st
}

// bufWriter is a util.BufWriter on a bytes.Buffer: it spares goldmark the 4 KiB
// bufio.Writer it would wrap around a plain io.Writer.
type bufWriter struct{ bytes.Buffer }

// Buffered implements util.BufWriter: nothing waits to be written.
func (w *bufWriter) Buffered() int { return 0 }

// Flush implements util.BufWriter: there is nothing to flush.
func (w *bufWriter) Flush() error { return nil }
