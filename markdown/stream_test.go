package markdown

import (
	"bytes"
	"github.com/hxchat/hxchat/internal/cmspec"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// corpus returns realistic LLM answers by name: the files of
// testdata/corpus, CRLF versions of some, and some cut short inside a block
// (as an answer stopped mid-stream would be).
func corpus(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob("testdata/corpus/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	c := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c[filepath.Base(f)] = string(b)
	}
	for _, name := range []string{"en-go-http-server.md", "ja-python-async.md", "en-lists.md"} {
		c[name+" (CRLF)"] = strings.ReplaceAll(c[name], "\n", "\r\n")
	}
	// Cut inside an open fence, inside a table, inside a list item.
	goSrv := c["en-go-http-server.md"]
	c["cut in fence"] = goSrv[:strings.Index(goSrv, "srv := &http.Server")+7]
	c["cut in table"] = goSrv[:strings.Index(goSrv, "| `WriteTimeout`")+9]
	lists := c["en-lists.md"]
	c["cut in list"] = lists[:strings.Index(lists, "Row counts")+3]
	c["no final newline"] = strings.TrimRight(c["ja-mixed.md"], "\n")
	return c
}

// sortedNames returns the keys of m in order, for a stable test order.
func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// tokenEnds splits text into tokens of 1 to 6 bytes, moved forward to a rune
// boundary as a model's tokens are whole UTF-8, and returns where each ends.
func tokenEnds(text string, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var ends []int
	for i := 0; i < len(text); {
		j := min(i+1+rng.IntN(6), len(text))
		for j < len(text) && !utf8.RuneStart(text[j]) {
			j++
		}
		ends = append(ends, j)
		i = j
	}
	return ends
}

// runeEnds returns the end of every rune of text: one token per rune.
func runeEnds(text string) []int {
	var ends []int
	for i := range text {
		if i > 0 {
			ends = append(ends, i)
		}
	}
	return append(ends, len(text))
}

// streamStats are what one streamed answer did.
type streamStats struct {
	maxTail, steps, marks int
	ops, bytes            int // Ops sent, and the bytes of their HTML
}

// checkStream feeds text to a Stream, growing it to each of ends in turn,
// applies the Ops to a reader's copy (DOM) and checks the properties of
// Stream at every step:
//
//	(a) the reader holds RenderOpen(text so far), node for node;
//	(b) a reader that joins now, given Render(text[:Mark]) and
//	    RenderOpen(text[Mark:]), holds the same;
//	Mark only grows and is the start of a line;
//
// and that after Finish the reader holds Render(text so far).
func checkStream(t testing.TB, r *Renderer, text string, ends []int) streamStats {
	t.Helper()
	s := r.Stream()
	var dom DOM
	var st streamStats
	prevMark := 0
	done := "" // canonical(Render(text[:Mark])), kept while Mark stays
	for i, end := range ends {
		cur := text[:end]
		ops := s.Grow(cur)
		for _, op := range ops {
			if err := dom.Apply(op); err != nil {
				t.Fatalf("after %q: %v: %v", cur, err, op)
			}
			st.ops++
			st.bytes += len(op.HTML)
		}
		st.steps++
		m := s.Mark()
		if m < prevMark || m > len(cur) || (m > 0 && cur[m-1] != '\n') {
			t.Fatalf("after %q: Mark %d (was %d) is not a line start that grows", cur, m, prevMark)
		}
		if m != prevMark || i == 0 {
			st.marks++
			done = canonical(r.Render(cur[:m]))
		}
		prevMark = m
		// (b), which makes (a) cheap to check: Render(text[:Mark]) then
		// Render(text[Mark:]) is Render(text). Checked in full now and
		// then (it costs the whole text), and at the end.
		late := done + canonical(r.RenderOpen(cur[m:]))
		if i%16 == 0 || i == len(ends)-1 {
			if want := canonical(r.RenderOpen(cur)); late != want {
				t.Fatalf("after %q: a reader joining at Mark %d holds\n%q\nnot Render's\n%q", cur, m, late, want)
			}
		}
		if got := dom.HTML(); got != late {
			t.Fatalf("after %q: the reader holds\n%q\nnot RenderOpen's\n%q\n(ops %v)", cur, got, late, ops)
		}
		st.maxTail = max(st.maxTail, len(cur)-m)
	}
	if len(ends) > 0 {
		cur := text[:ends[len(ends)-1]]
		for _, op := range s.Finish(cur) {
			if err := dom.Apply(op); err != nil {
				t.Fatalf("finishing %q: %v: %v", cur, err, op)
			}
			st.ops++
			st.bytes += len(op.HTML)
		}
		if got, want := dom.HTML(), canonical(r.Render(cur)); got != want {
			t.Fatalf("finished %q: the reader holds\n%q\nnot Render's\n%q", cur, got, want)
		}
	}
	return st
}

func TestStreamCorpusTokens(t *testing.T) {
	r := New()
	c := corpus(t)
	for _, name := range sortedNames(c) {
		text := c[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			seeds := uint64(3)
			if len(text) > 3000 {
				seeds = 1 // long answers cost the test much, and add little
			}
			for seed := range seeds {
				st := checkStream(t, r, text, tokenEnds(text, seed))
				if st.marks == 0 && strings.Count(text, "\n\n") > 2 {
					t.Errorf("seed %d: Mark never moved over %d steps", seed, st.steps)
				}
			}
		})
	}
}

// shortTexts are short texts with the cases block finality must get right;
// they are streamed at every position, and seed the fuzz test.
var shortTexts = map[string]string{
	"crlf":            "# Title\r\n\r\n- a\r\n- b\r\n\r\nText\r\nmore\r\n\r\n```go\r\nx := 1\r\n```\r\n",
	"list-continues":  "- a\n\n- b\n\n  still b\n\nafter\n\n1. x\n\n2. y\n",
	"setext":          "Title\n---\n\npara\n===\n\n- item\n---\n",
	"fence":           "para\n\n```py\nprint(1)\n\n\nprint(2)\n```\nafter\n\n~~~\nopen",
	"table":           "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\nafter\n",
	"lazy":            "> quote\nlazy\n\n- item\nlazy\n\npara\n    not code\n",
	"indented-code":   "para\n\n    code\n\n\n    more code\n\nafter\n",
	"ref-definitions": "See [x].\n\n[x]: https://example.com\n\n[y]: <https://e.com> \"t\"\n",
	"html-like":       "<div>\n*a*\n</div>\n\n<!--\n\ncomment\n-->\n\n<script>\n\nx\n</script>\n",
	"japanese-breaks": "日本語の\n文章です。\n\n- 項目\n  続き\n\n終わり。",
	"invalid-utf8":    "bad \xff byte\n\n\xa7\n00\n\n- \xe3\x81 cut rune\n\nend\n",
	// Long blocks, rendered from their last children on (blockTail,
	// codeTail), and the lines that end that or change the block whole.
	"list-turns-loose":  "- a\n- b\n- c\n- d\n\n- e\n- f\nafter\n",
	"list-loose":        "1. a\n\n2. b\n\n   more b\n3. c\n\n  4. d\n\n5) e\n\n - f\n\n   - f1\n\n   - f2\n - g\n",
	"ordered-from-7":    "7. a\n8. b\n9. c\n10. d\n11. e\n   more e\n12. f\n\npara\n",
	"list-item-code":    "- a\n- b\n- c\n  ```go\n  x := 1\n\n  y := 2\n  ```\n- d\n",
	"list-nested":       "- a\n  - a1\n  - a2\n- b\n  - b1\n    - b11\n- c\n* other list\n",
	"table-rows":        "| a | b |\n|:-|-:|\n| 1 | 2 |\n| 3 | 4 |\n| 5 |\n| 7 | 8 | 9 |\nlast row\n\nafter\n",
	"quote-children":    "> p1\n>\n> p2\n> lazy\nlazier\n>\n> - x\n> - y\n>\n> ```\n> code\n> ```\n\nafter\n",
	"fence-indented":    "  ```go\n  a := 1\n\nb := 2\n    c := 3\n\nfunc x() {\n}\n  ```\ntail\n",
	"fence-long-tildes": "~~~~ py\nx = 1\n\ndef f():\n    \"\"\"doc\n\nstring\"\"\"\n\nclass C:\n    pass\n~~~\nstill code\n~~~~\nafter\n",
	// Fences that their container, not a closing fence, ends; a raw
	// string across a blank line then an unindented line.
	"fence-in-containers": "> ```go\n> var s = `a\n>\n> b`\nafter\n\n- ```go\n  var t = `c\n\n  d`\nafter\n\n    indented\n    code\nafter\n",
}

// TestStreamEveryPosition streams short texts one rune at a time, and also
// in two pieces cut at every rune boundary.
func TestStreamEveryPosition(t *testing.T) {
	r := New()
	c := corpus(t)
	short := maps.Clone(shortTexts)
	short["ja-short"] = c["ja-short.md"]
	short["headings"] = c["en-headings-breaks.md"]
	short["quotes-tables"] = c["en-quotes-tables.md"]
	for _, name := range sortedNames(short) {
		text := short[name]
		t.Run(name, func(t *testing.T) {
			checkStream(t, r, text, runeEnds(text))
			for _, p := range runeEnds(text) {
				checkStream(t, r, text, []int{p, len(text)})
			}
		})
	}
}

// TestGrowReadsOnlyTheTail proves that Grow never looks at the text before
// Mark: replacing the finished part with other bytes changes nothing.
func TestGrowReadsOnlyTheTail(t *testing.T) {
	r := New()
	text := corpus(t)["en-go-http-server.md"]
	ends := tokenEnds(text, 7)
	s := r.Stream()
	for i, end := range ends {
		cur := text[:end]
		if m := s.Mark(); m > 0 && i%5 == 0 {
			// A twin stream at the same Mark, fed garbage before Mark.
			twin := *s
			if s.code != nil {
				c := *s.code
				twin.code = &c
			}
			if s.block != nil {
				b := *s.block
				if b.nested != nil {
					nc, sub := *b.nested, *b.nested.sub
					c := *sub.code
					sub.code, nc.sub, b.nested = &c, &sub, &nc
				}
				twin.block = &b
			}
			if s.para != nil {
				p := *s.para
				twin.para = &p
			}
			twin.plain = bytes.Clone(s.plain)
			garbage := strings.Repeat("\x00", m) + cur[m:]
			o1 := twin.Grow(garbage)
			o2 := s.Grow(cur)
			if !reflect.DeepEqual(o1, o2) || twin.Mark() != s.Mark() {
				t.Fatalf("at %d: output depends on text before Mark", end)
			}
			continue
		}
		s.Grow(cur)
	}
	if s.Mark() == 0 {
		t.Fatal("Mark never moved")
	}
}

// TestTailStaysSmall checks that on a long answer the open tail, hence the
// work of each Grow, stays the size of a block or two.
func TestTailStaysSmall(t *testing.T) {
	r := New()
	text, ends := benchAnswer(t)
	st := checkStream(t, r, text, ends)
	t.Logf("%d bytes, %d tokens: Mark moved %d times, longest tail %d bytes", len(text), st.steps, st.marks, st.maxTail)
	if st.maxTail > 2500 {
		t.Errorf("longest tail %d bytes in a %d-byte answer", st.maxTail, len(text))
	}
}

// TestUnclosedFence checks that a code fence renders as a code block while
// it streams, before its closing fence.
func TestUnclosedFence(t *testing.T) {
	r := New()
	s := r.Stream()
	var dom DOM
	text := "Here:\n\n```go\nfunc main() {\n\tfmt.Println(\"<hi>\")\n"
	for _, end := range tokenEnds(text, 3) {
		for _, op := range s.Grow(text[:end]) {
			if err := dom.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
	}
	tail := []byte(strings.TrimPrefix(dom.HTML(), "<p>Here:</p>\n"))
	want := `<div class="code"><div class="code-head"><span class="code-lang">go</span><button type="button" class="copy" data-copy>Copy</button></div><pre class="chroma"><code>`
	if !bytes.HasPrefix(tail, []byte(want)) {
		t.Fatalf("open fence does not render as code: %q", tail)
	}
	if got := codeText(t, tail); got != "func main() {\n\tfmt.Println(\"<hi>\")\n" {
		t.Fatalf("code text %q", got)
	}
	if s.Mark() != len("Here:\n\n") {
		t.Fatalf("Mark %d: the paragraph before the fence should be final", s.Mark())
	}
}

// TestGrowNotAContinuation checks that a text shorter than Mark renders
// nothing and does not panic.
func TestGrowNotAContinuation(t *testing.T) {
	s := New().Stream()
	s.Grow("para\n\nnext line\n")
	if s.Mark() == 0 {
		t.Fatal("Mark did not move")
	}
	if ops := s.Grow(""); ops != nil {
		t.Fatalf("got %v", ops)
	}
}

// benchAnswer is a long answer of about 4,000 tokens of paragraphs, lists,
// tables and code, English and Japanese, made of the corpus, and where its
// tokens end. Its last 500 tokens are its first 500 again, so that the cost
// of a token at the end can be compared with that of the same token at the
// start.
func benchAnswer(t testing.TB) (text string, ends []int) {
	c := corpus(t)
	start := c["en-go-http-server.md"]
	startEnds := tokenEnds(start, 1)
	var b strings.Builder
	b.WriteString(start)
	for _, name := range []string{
		"ja-python-async.md", "en-lists.md", "ja-mixed.md", "en-code-langs.md",
		"en-quotes-tables.md", "en-links-html.md", "en-go-http-server.md", "en-headings-breaks.md",
	} {
		b.WriteString("\n")
		b.WriteString(c[name])
	}
	b.WriteString("\n")
	ends = append(ends, startEnds...)
	for _, e := range tokenEnds(b.String()[len(start):], 2) {
		ends = append(ends, len(start)+e)
	}
	base := b.Len()
	b.WriteString(start[:startEnds[499]])
	for _, e := range startEnds[:500] {
		ends = append(ends, base+e)
	}
	return b.String(), ends
}

// TestPlainLine: whatever plainLine accepts renders, in full, as itself in a
// paragraph; random lines over an alphabet of what it accepts and what it
// must not.
func TestPlainLine(t *testing.T) {
	r := New()
	alphabet := []string{"a", "Z", "w", "W", "7", " ", "  ", ".", ",", ";", "?", "(", ")", "/", "%", "-", "+", "=", "$", "'", "^", "{", "}",
		"日", "本", "語", "。", "、", "「", "」", "é", "Ω", "😀", "\u200b", "１", "＊",
		"*", "_", "`", "[", "]", "!", "<", ">", "&", "\\", "#", "~", "|", ":", "@", "\"", "\t", "\n", "\u00a0", "\u3000", "\u2028", "www.", "http://", "1.", "- "}
	rng := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for range 200000 {
		var b strings.Builder
		for range 1 + rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		src := strings.Repeat(" ", rng.IntN(5)) + b.String()
		line, ok := plainLine(src)
		if !ok {
			continue
		}
		accepted++
		if got, want := "<p>"+line+"</p>\n", string(r.Render(src)); got != want {
			t.Fatalf("%q: plain %q, rendered %q", src, got, want)
		}
	}
	if accepted < 1000 {
		t.Errorf("only %d plain lines drawn", accepted)
	}
	for _, src := range []string{"www.example.com", "a www.example.com", "a WWW.x", "1. a", "    a", "   1", "a ", "a\tb", "a\xffb", "a*b", "a<b", "a&amp;", "a@b.co", "a\u00a0"} {
		if _, ok := plainLine(src); ok {
			t.Errorf("%q taken as plain", src)
		}
	}
}

// TestParagraphFinalAtBlankLine: a paragraph is final as soon as a blank
// line follows it, so prose streams paragraph by paragraph and the open
// tail stays one paragraph long.
func TestParagraphFinalAtBlankLine(t *testing.T) {
	s := New().Stream()
	text := ""
	for _, tok := range []string{"One", " two", ".\n", "\n", " Three", " four", ".\n\n", "- a list\n", "\n", "- goes on"} {
		text += tok
		ops := s.Grow(text)
		switch {
		case text == "One two.\n\n" && s.Mark() != len(text):
			t.Errorf("after the blank line: mark %d", s.Mark())
		case text == "One two.\n\n Three four.\n\n- a list\n\n" && s.Mark() != len("One two.\n\n Three four.\n\n"):
			t.Errorf("a list is not final at a blank line: mark %d", s.Mark())
		case tok == " four" && (len(ops) != 1 || string(ops[0].HTML) != " four" || !slices.Equal(ops[0].Path, []int{0})):
			t.Errorf("a word is not appended to its paragraph: %v", ops)
		}
	}
}

// TestStreamSpecExamples streams every example of the CommonMark spec in
// chunks of 1 and 3 bytes: at every step the reader holds what Render gives.
func TestStreamSpecExamples(t *testing.T) {
	ex, err := cmspec.Load("../internal/cmspec/testdata/spec.txt")
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	for _, e := range ex {
		for _, n := range []int{1, 3} {
			checkStream(t, r, e.Markdown, cmspec.ChunkEnds(e.Markdown, n))
		}
	}
}

// TestCodeTailStaysSmall streams a long code block and checks that the
// Stream renders it from its last piece on (codeTail): what each step
// renders stays a few dozen lines, however long the block has grown.
func TestCodeTailStaysSmall(t *testing.T) {
	r := New()
	for _, name := range []string{"long-go-code.md", "long-python-code.md", "shell-session.md"} {
		text := corpus(t)[name]
		s := r.Stream()
		steps, longest := 0, 0
		for _, end := range tokenEnds(text, 1) {
			s.Grow(text[:end])
			if s.code == nil {
				continue
			}
			steps++
			lines := strings.Count(text[s.code.start:end], "\n")
			longest = max(longest, lines)
		}
		t.Logf("%s: %d steps from the last piece on, at most %d lines rendered", name, steps, longest)
		if steps < len(text)/10 || longest > maxChunk+2 {
			t.Errorf("%s: %d steps rendered from the last piece, of at most %d lines", name, steps, longest)
		}
	}
}

// TestBlockTailStaysSmall streams a long list, quote and table and checks
// that the Stream renders each from its last children on (blockTail): what
// each step renders stays a few lines, however long the block has grown.
func TestBlockTailStaysSmall(t *testing.T) {
	r := New()
	c := corpus(t)
	loose := strings.ReplaceAll(c["long-list.md"], "\n- ", "\n\n- ")
	c["long-list-loose"] = loose
	for _, name := range []string{"long-list.md", "long-list-loose", "long-quote.md", "long-table.md", "nested-lists-code.md"} {
		text := c[name]
		s := r.Stream()
		steps, longest := 0, 0
		for _, end := range tokenEnds(text, 1) {
			s.Grow(text[:end])
			if s.block == nil {
				continue
			}
			steps++
			longest = max(longest, strings.Count(s.block.prefix+text[s.block.start:end], "\n"))
		}
		t.Logf("%s: %d steps from the last children on, at most %d lines rendered", name, steps, longest)
		limit := 16
		if name == "nested-lists-code.md" {
			limit = 60 // two items, each with a list and code of its own
		}
		if steps < len(text)/10 || longest > limit {
			t.Errorf("%s: %d steps rendered from the last children, of at most %d lines", name, steps, longest)
		}
	}
}

// TestParaTailStaysSmall streams long paragraphs, one of a single line with
// code, emphasis and links, one of English lines and one of Japanese ones,
// and checks that the Stream renders each from a cut on (paraTail): what a
// step renders stays under two cuts' length, however long the paragraph.
func TestParaTailStaysSmall(t *testing.T) {
	r := New()
	c := corpus(t)
	en := strings.ReplaceAll(c["long-paragraph.md"], ". ", ".\n")
	ja := strings.Repeat("日本語の文章は改行で空白を入れずにつながります。**重要**な点は、描画が一度だけで済むことです。\n", 40)
	for name, text := range map[string]string{"long-paragraph.md": c["long-paragraph.md"], "lines": en, "ja": ja} {
		checkStream(t, r, text, tokenEnds(text, 3))
		s := r.Stream()
		steps, longest := 0, 0
		for _, end := range tokenEnds(text, 1) {
			s.Grow(text[:end])
			if s.para == nil {
				continue
			}
			steps++
			longest = max(longest, end-s.para.start)
		}
		t.Logf("%s: %d steps from a cut on, at most %d bytes rendered", name, steps, longest)
		if steps < len(text)/20 || longest > 2*paraMove+64 {
			t.Errorf("%s: %d steps rendered from a cut, of at most %d bytes", name, steps, longest)
		}
	}
}

// canonical returns html, a fragment of this package's HTML, in the form
// of DOM.HTML: what a DOM Set to html returns, without building it.
func canonical(html []byte) string {
	var b []byte
	var write func(ns []node)
	write = func(ns []node) {
		for i, n := range ns {
			if !n.elem {
				if i > 0 && !ns[i-1].elem {
					b = append(b, "<!--two texts-->"...)
				}
				b = appendEscaped(b, textOf(n.raw))
				continue
			}
			b = append(b, n.raw[:n.open]...)
			if len(n.raw) > n.open {
				write(n.kids)
				b = append(b, n.raw[bytes.LastIndexByte(n.raw, '<'):]...)
			}
		}
	}
	write(parseNodes(html))
	return string(b)
}

// TestNestedCodeStaysSmall streams long code blocks inside list items and
// quotes and checks that the Stream renders each from its last piece on
// (nestedCode in a blockTail): what a step renders stays a few dozen lines,
// however long the block, and blank lines of code (empty, or spaces and
// tabs) do not end it.
func TestNestedCodeStaysSmall(t *testing.T) {
	r := New()
	text := corpus(t)["nested-long-code.md"]
	s := r.Stream()
	steps, longest, entered := 0, 0, 0
	inCode := false
	for _, end := range tokenEnds(text, 1) {
		s.Grow(text[:end])
		nc := (*nestedCode)(nil)
		if s.block != nil {
			nc = s.block.nested
		}
		if nc == nil {
			inCode = false
			continue
		}
		if !inCode {
			entered++
			inCode = true
		}
		steps++
		longest = max(longest, bytes.Count(nc.code[min(nc.sub.code.start, len(nc.code)):], []byte("\n")))
	}
	t.Logf("%d steps in %d code blocks from the last piece on, at most %d lines rendered", steps, entered, longest)
	// Five code blocks, in a list item, a nested list's item, an item that
	// begins with its fence, and a quote.
	if steps < len(text)/8 || longest > maxChunk+2 || entered > 12 {
		t.Errorf("%d steps in %d code blocks from the last piece, of at most %d lines", steps, entered, longest)
	}
}

// TestOpenLink checks that a URL being written is sent as text, once, and
// becomes a link when a space ends it, or when the answer ends in it.
func TestOpenLink(t *testing.T) {
	r := New()
	for _, text := range []string{
		"See https://example.com/docs/streaming.html for more.",
		"- docs: www.example.com/a_(b)\n- mail: someone@example.com",
		"Read it at https://example.com/docs/streaming.html",
	} {
		s := r.Stream()
		var dom DOM
		links, sent := 0, 0
		ends := tokenEnds(text, 1)
		for i, end := range ends {
			ops := s.Grow(text[:end])
			if i == len(ends)-1 {
				ops = append(ops, s.Finish(text)...)
			}
			for _, op := range ops {
				links += bytes.Count(op.HTML, []byte("<a "))
				sent += len(op.HTML)
				if err := dom.Apply(op); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := canonical(r.Render(text))
		if got := dom.HTML(); got != want {
			t.Errorf("%q: the reader holds\n%q\nnot\n%q", text, got, want)
		}
		if n := strings.Count(want, "<a "); links != n {
			t.Errorf("%q: %d links sent for the %d of the answer", text, links, n)
		}
		t.Logf("%q: %d bytes sent for %d", text, sent, len(want))
	}
}

// TestParseNodesCount: countNodes, which sizes parseNodes's one allocation,
// counts exactly the nodes of the renderer's HTML, and a parse of it
// allocates once.
func TestParseNodesCount(t *testing.T) {
	var all func(ns []node) int
	all = func(ns []node) int {
		n := len(ns)
		for _, c := range ns {
			n += all(c.kids)
		}
		return n
	}
	r := New()
	for name, text := range corpus(t) {
		h := r.Render(text)
		if got, want := countNodes(h), all(parseNodes(h)); got != want {
			t.Errorf("%s: countNodes %d, parseNodes made %d", name, got, want)
		}
		parseNodes(h) // the scratch array has its size
		if n := testing.AllocsPerRun(10, func() { parseNodes(h) }); n != 1 && !raceEnabled {
			t.Errorf("%s: parseNodes allocates %v times, want 1", name, n)
		}
	}
}
