package markdown

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/alecthomas/chroma/v2"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
	"github.com/yuin/goldmark/util"
)

// The two palettes of CSS. Both are GitHub's; colours too faint against
// their background are darkened (lightened) until they meet WCAG AA (4.5:1).
var (
	lightStyle = styles.Get("github")
	darkStyle  = styles.Get("github-dark")
)

// minContrast is the contrast every token colour of CSS has against its code
// background.
const minContrast = 4.6

// tokenClasses maps each token type to the class of its span ("" for none):
// the type's own class when a palette styles it, else its sub-category's,
// else its category's, as chroma's HTML formatter does.
var tokenClasses = sync.OnceValue(func() map[chroma.TokenType]string {
	styled := map[chroma.TokenType]bool{}
	for _, s := range []*chroma.Style{lightStyle, darkStyle} {
		bg := s.Get(chroma.Background)
		for t := range chroma.StandardTypes {
			if isToken(t) && !s.Get(t).Sub(bg).IsZero() {
				styled[t] = true
			}
		}
	}
	classes := map[chroma.TokenType]string{}
	for t := range chroma.StandardTypes {
		if isToken(t) {
			classes[t] = classOf(t, styled)
		}
	}
	return classes
})

// isToken tells the types of lexed tokens that may get a span from those of
// the formatter's structure (background, lines, line numbers) and from
// whitespace, whose colour does not show.
func isToken(t chroma.TokenType) bool {
	return (t > 0 || t == chroma.Error) && t != chroma.TextWhitespace
}

// classOf returns the class of t's spans given the styled token types.
func classOf(t chroma.TokenType, styled map[chroma.TokenType]bool) string {
	for _, c := range []chroma.TokenType{t, t.SubCategory(), t.Category()} {
		if styled[c] {
			return chroma.StandardTypes[c]
		}
	}
	return ""
}

// tokenClass returns the class of the span of a token of type t, "" for no
// span.
func tokenClass(t chroma.TokenType) string {
	classes := tokenClasses()
	if c, ok := classes[t]; ok {
		return c
	}
	if c, ok := classes[t.SubCategory()]; ok {
		return c
	}
	return classes[t.Category()]
}

// lexerCache remembers lexer look-ups (chroma's is a scan of every lexer's
// file patterns when the name is no lexer's name or alias). Bounded, for
// names come from model output.
var lexerCache struct {
	sync.Mutex
	m map[string]chroma.Lexer
}

// lexerCacheMax bounds lexerCache.
const lexerCacheMax = 512

// lexerFor returns the lexer for a language name or alias (go, golang, py,
// ts, sh, …) or file extension, or nil when none matches. Names of more than
// 32 bytes name nothing.
func lexerFor(lang string) chroma.Lexer {
	if lang == "" || len(lang) > 32 {
		return nil
	}
	lexerCache.Lock()
	l, ok := lexerCache.m[lang]
	lexerCache.Unlock()
	if ok {
		return l
	}
	l = lexers.Get(lang)
	if l != nil {
		l = chroma.Coalesce(l)
	}
	lexerCache.Lock()
	if lexerCache.m == nil {
		lexerCache.m = map[string]chroma.Lexer{}
	}
	if len(lexerCache.m) < lexerCacheMax {
		lexerCache.m[lang] = l
	}
	lexerCache.Unlock()
	return l
}

// highlighter highlights code with chroma and remembers its recent results:
// while an answer streams, the same code is rendered again at every token
// (the tail is), and lexing is by far the dearest part of rendering.
//
// It remembers in two generations: results go to the new one, and one found
// in the old one moves to the new one; when the new one is full, it becomes
// the old one and the old one is forgotten. What is used again within a
// generation stays — the lines of every open code block, used at each of
// its tokens, however many blocks stream at once — and what is not goes, a
// generation later. (Forgetting at random, a cache full of a thousand
// streams' finished lines forgot the open ones too, and lexed them again.)
type highlighter struct {
	mu       sync.Mutex
	cur, old map[string]piece // lang + "\x00" + code -> its highlighting
	size     int              // bytes of keys and HTML in cur
	// lexed counts the bytes of code given to the lexer, for the tests
	// and benchmarks that check that code is lexed once.
	lexed atomic.Int64
}

// piece is some highlighted code.
type piece struct {
	html []byte
	// open is true when the code's last byte is lexed as part of a string
	// or comment, or as an error: the code ends inside a construct that
	// the lines after it continue.
	open bool
}

// Bounds of a generation of the highlighter's memory (it holds two): enough
// for the open code blocks of thousands of concurrent streams.
const (
	cacheMaxEntries = 8192
	cacheMaxBytes   = 4 << 20
)

// get returns the highlighting of code by l, the lexer of lang.
func (h *highlighter) get(l chroma.Lexer, lang string, code []byte) piece {
	var kb [512]byte // the key of a line or a few: no allocation to find it
	key := append(append(append(kb[:0], lang...), 0), code...)
	h.mu.Lock()
	p, ok := h.cur[string(key)]
	if !ok {
		if p, ok = h.old[string(key)]; ok {
			h.add(string(key), p)
		}
	}
	h.mu.Unlock()
	if !ok {
		h.lexed.Add(int64(len(code)))
		p = highlightPiece(l, crlfToLF(code))
		h.put(string(key), p)
	}
	return p
}

// maxChunk is the most lines writeOpen lexes in one piece.
const maxChunk = 48

// writeOpen writes code, complete lines of a code block, as write does but
// in pieces that the lexer starts afresh (see pieces). Only the last piece
// changes as lines are added, so a new line costs the lexing of one piece,
// not of the whole block, and the pieces before it are final: what a reader
// was shown of them stays. Colours can differ from those of the whole block
// lexed at once where a construct spans two pieces, which the rules of
// pieces make rare.
func (h *highlighter) writeOpen(w util.BufWriter, lang string, code []byte) {
	if len(code) == 0 {
		return
	}
	l := lexerFor(lang)
	starts := h.pieces(l, lang, code)
	for i, start := range starts {
		end := len(code)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		_, _ = w.Write(h.piece(l, lang, code[start:end]))
	}
}

// piece returns the HTML of one piece of code: highlighted by l, or escaped
// when no lexer is known.
func (h *highlighter) piece(l chroma.Lexer, lang string, code []byte) []byte {
	if l == nil {
		return util.EscapeHTML(crlfToLF(code))
	}
	return h.get(l, lang, code).html
}

// pieces returns where the pieces of code begin, the first at 0; code is
// complete lines. A piece is one line, lexed on its own, unless it ends
// inside a string or a comment (or lexes as an error there): then the next
// lines join it until it no longer does, or until it has maxChunk lines.
// Chroma's lexers read left to right and start each line in their first
// state but for such constructs, so this gives what lexing the whole block
// gives (on the corpus, but for where the console lexer joins output lines
// into one span), and each line is lexed about once as the block grows,
// which matters: chroma takes some 3 µs a byte. Without a lexer (l nil)
// every line is a piece: escaping is line by line. Where a piece begins
// depends only on the code before it, so a piece that has one after it
// never changes.
func (h *highlighter) pieces(l chroma.Lexer, lang string, code []byte) []int {
	starts := []int{0}
	start, lines := 0, 0
	for i := 0; i < len(code); {
		nl := bytes.IndexByte(code[i:], '\n')
		if nl < 0 {
			nl = len(code) - i - 1
		}
		line := code[i : i+nl+1]
		switch {
		case i == start:
		case l == nil || lines >= maxChunk || !h.get(l, lang, code[start:i]).open:
			starts = append(starts, i)
			start, lines = i, 0
		}
		lines++
		i += len(line)
	}
	return starts
}

// isBlank reports whether line has only white space.
func isBlank(line []byte) bool {
	return len(bytes.Trim(line, " \t\r\n")) == 0
}

// put remembers p as the highlighting of key, within the cache's bounds.
func (h *highlighter) put(key string, p piece) {
	if len(key)+len(p.html) > cacheMaxBytes/8 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.cur[key]; !ok {
		h.add(key, p)
	}
}

// add puts p in the new generation, which becomes the old one first if it
// is full. h.mu is held.
func (h *highlighter) add(key string, p piece) {
	n := len(key) + len(p.html)
	if h.cur == nil || len(h.cur) >= cacheMaxEntries || h.size+n > cacheMaxBytes {
		h.old, h.cur, h.size = h.cur, make(map[string]piece, min(len(h.cur), cacheMaxEntries)), 0
	}
	h.cur[key] = p
	h.size += n
}

// crlfToLF returns code with each CRLF turned to LF.
func crlfToLF(code []byte) []byte {
	if bytes.IndexByte(code, '\r') < 0 {
		return code
	}
	return bytes.ReplaceAll(code, []byte("\r\n"), []byte("\n"))
}

// highlightPiece returns code as HTML with a span for each token that the
// palettes colour, or merely escaped if the lexer fails.
func highlightPiece(l chroma.Lexer, code []byte) piece {
	var b bytes.Buffer
	b.Grow(len(code) * 3)
	last, ok := writeTokens(&b, l, code)
	if !ok {
		return piece{html: util.EscapeHTML(code), open: true}
	}
	open := last == chroma.Error || last.InSubCategory(chroma.LiteralString) || last.InCategory(chroma.Comment)
	return piece{html: b.Bytes(), open: open}
}

// writeTokens lexes code and writes its tokens to b, each in the span of
// its class if it has one, as the lexer gives them: no slice of the tokens
// is made. It checks that the tokens spell code exactly (chroma adds a
// final newline, which the last token loses; anything else makes it fall
// back to plain text): ok is false when they do not or the lexer fails,
// and b is then to be thrown away. last is the type of the last token with
// text, chroma.Text if none.
func writeTokens(b *bytes.Buffer, l chroma.Lexer, code []byte) (last chroma.TokenType, ok bool) {
	defer func() {
		if recover() != nil { // a lexer bug must not take the answer down
			last, ok = chroma.Text, false
		}
	}()
	it, err := l.Tokenise(nil, string(code))
	if err != nil {
		return chroma.Text, false
	}
	last = chroma.Text
	i := 0         // the bytes of code the tokens have spelled
	added := false // the last token had chroma's newline, taken off
	for t := it(); t != chroma.EOF; t = it() {
		v := t.Value
		switch {
		case added:
			return chroma.Text, false // a token after the last one
		case i+len(v) <= len(code) && string(code[i:i+len(v)]) == v:
		case i+len(v) == len(code)+1 && code[len(code)-1] != '\n' && strings.HasSuffix(v, "\n") &&
			string(code[i:]) == v[:len(v)-1]:
			v, added = v[:len(v)-1], true
		default:
			return chroma.Text, false
		}
		i += len(v)
		if v != "" {
			last = t.Type
		}
		class := tokenClass(t.Type)
		if class == "" {
			writeEscaped(b, v)
			continue
		}
		b.WriteString(`<span class="`)
		b.WriteString(class)
		b.WriteString(`">`)
		writeEscaped(b, v)
		b.WriteString(`</span>`)
	}
	return last, i == len(code)
}

// writeEscaped writes s to b escaped as util.EscapeHTML escapes it, byte
// for byte, without the copy of s as a []byte that EscapeHTML needs: that
// was two allocations per token, most of our own garbage in highlighting.
func writeEscaped(b *bytes.Buffer, s string) {
	n := 0
	for i := 0; i < len(s); i++ {
		if e := util.EscapeHTMLByte(s[i]); e != nil {
			b.WriteString(s[n:i])
			b.Write(e)
			n = i + 1
		}
	}
	b.WriteString(s[n:])
}

// CSS returns the stylesheet of highlighted code: rules on the classes of the
// chroma token spans (scoped by .chroma), no inline styles. The light palette
// applies by default; the dark one under @media (prefers-color-scheme: dark)
// unless the root element has data-theme="light", and whenever an element
// above the code has data-theme="dark". Put data-theme on <html>.
func CSS() []byte {
	return bytes.Clone(css())
}

// css builds the stylesheet of CSS once.
var css = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.WriteString("/* Code highlighting (chroma, GitHub palettes), generated by hxchat/markdown. */\n")
	writePalette(&b, lightStyle, nil, "")
	b.WriteString("@media (prefers-color-scheme: dark) {\n")
	writePalette(&b, darkStyle, lightStyle, ":root:not([data-theme=light]) ")
	b.WriteString("}\n")
	writePalette(&b, darkStyle, lightStyle, "[data-theme=dark] ")
	return b.Bytes()
})

// writePalette writes the rules of style s under the selector prefix. When s
// overrides the rules of another style (over), each of its rules also resets
// what the other one's rule for the class sets and s does not.
func writePalette(b *bytes.Buffer, s, over *chroma.Style, prefix string) {
	bgEntry := s.Get(chroma.Background)
	bg := bgEntry.Background
	fg := bgEntry.Colour
	if !fg.IsSet() {
		fg = s.Get(chroma.Text).Colour
	}
	if !fg.IsSet() {
		fg = chroma.MustParseColour("#1f2328")
		if luminance(bg) < 0.5 {
			fg = chroma.MustParseColour("#e6edf3")
		}
	}
	fmt.Fprintf(b, "%s.chroma { color: %s; background-color: %s; }\n", prefix, readable(fg, bg), bg)
	classes := map[string]chroma.TokenType{}
	for t, c := range tokenClasses() {
		if c != "" && chroma.StandardTypes[t] == c {
			classes[c] = t
		}
	}
	names := make([]string, 0, len(classes))
	for c := range classes {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		t := classes[c]
		e := s.Get(t).Sub(bgEntry)
		var o chroma.StyleEntry
		if over != nil {
			o = over.Get(t).Sub(over.Get(chroma.Background))
		}
		var decl []string
		switch {
		case e.Colour.IsSet():
			against := bg
			if e.Background.IsSet() {
				against = e.Background
			}
			decl = append(decl, "color: "+readable(e.Colour, against))
		case o.Colour.IsSet():
			decl = append(decl, "color: inherit")
		}
		switch {
		case e.Background.IsSet():
			decl = append(decl, "background-color: "+e.Background.String())
		case o.Background.IsSet():
			decl = append(decl, "background-color: transparent")
		}
		switch {
		case e.Bold == chroma.Yes:
			decl = append(decl, "font-weight: bold")
		case o.Bold == chroma.Yes:
			decl = append(decl, "font-weight: inherit")
		}
		switch {
		case e.Italic == chroma.Yes:
			decl = append(decl, "font-style: italic")
		case o.Italic == chroma.Yes:
			decl = append(decl, "font-style: inherit")
		}
		switch {
		case e.Underline == chroma.Yes:
			decl = append(decl, "text-decoration: underline")
		case o.Underline == chroma.Yes:
			decl = append(decl, "text-decoration: inherit")
		}
		if len(decl) == 0 {
			continue
		}
		fmt.Fprintf(b, "%s.chroma .%s { %s; }\n", prefix, c, strings.Join(decl, "; "))
	}
}

// readable returns c, darkened on a light background or lightened on a dark
// one until its contrast with bg is at least minContrast.
func readable(c, bg chroma.Colour) string {
	if !c.IsSet() || !bg.IsSet() {
		return c.String()
	}
	dark := luminance(bg) < 0.5
	for i := 0; i < 100 && contrast(c, bg) < minContrast; i++ {
		if dark {
			c = mix(c, 255, 0.05)
		} else {
			c = mix(c, 0, 0.05)
		}
	}
	return c.String()
}

func mix(c chroma.Colour, to uint8, f float64) chroma.Colour {
	m := func(v uint8) uint8 { return uint8(math.Round(float64(v)*(1-f) + float64(to)*f)) }
	return chroma.NewColour(m(c.Red()), m(c.Green()), m(c.Blue()))
}

// luminance is the WCAG relative luminance of c.
func luminance(c chroma.Colour) float64 {
	ch := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(c.Red()) + 0.7152*ch(c.Green()) + 0.0722*ch(c.Blue())
}

// contrast is the WCAG contrast ratio of two colours.
func contrast(a, b chroma.Colour) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}
