// Package cmspec reads the examples of the CommonMark spec (its spec.txt, as
// the npm package commonmark-spec ships it), for tests that stream every
// example through hxchat's renderer.
package cmspec

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Example is one example of the spec.
type Example struct {
	Number   int    // from 1, in the order of the spec
	Section  string // the heading above it
	Markdown string // its input, "→" turned into a tab
	HTML     string // the spec's HTML for it (hxchat renders differently on purpose)
}

// fence opens and closes an example: 32 backticks, then " example" when
// it opens.
const fence = "````````````````````````````````"

// heading is a heading line outside the examples.
var heading = regexp.MustCompile(`^#{1,6} *(.*)$`)

// Load reads the examples of the spec file at path.
func Load(path string) ([]Example, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse reads the examples of spec.txt's text.
func Parse(spec []byte) ([]Example, error) {
	var (
		out     []Example
		section string
		cur     *Example
		inHTML  bool
		md, h   strings.Builder
	)
	// As the spec's own extractor (commonmark-spec's index.js) reads it:
	// CRLF as LF, nothing after "<!-- END TESTS -->", a heading's text
	// names the section of the examples after it.
	spec = bytes.ReplaceAll(spec, []byte("\r\n"), []byte("\n"))
	if i := bytes.Index(spec, []byte("\n<!-- END TESTS -->")); i >= 0 {
		spec = spec[:i+1]
	}
	sc := bufio.NewScanner(bytes.NewReader(spec))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, fence+" example"):
			cur = &Example{Number: len(out) + 1, Section: section}
			inHTML = false
			md.Reset()
			h.Reset()
		case cur == nil:
			if m := heading.FindStringSubmatch(l); m != nil {
				section = m[1]
			}
		case cur != nil && l == fence:
			cur.Markdown = strings.ReplaceAll(md.String(), "→", "\t")
			cur.HTML = strings.ReplaceAll(h.String(), "→", "\t")
			out = append(out, *cur)
			cur = nil
		case cur != nil && l == "." && !inHTML:
			inHTML = true
		case cur != nil && inHTML:
			h.WriteString(l + "\n")
		case cur != nil:
			md.WriteString(l + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("cmspec: example %d is not closed", cur.Number)
	}
	return out, nil
}

// ChunkEnds splits text into chunks of n bytes, each moved forward to a rune
// boundary (a model's tokens are whole UTF-8), and returns where each ends:
// the steps of a text streamed in n-byte chunks.
func ChunkEnds(text string, n int) []int {
	var ends []int
	for i := 0; i < len(text); {
		j := min(i+n, len(text))
		for j < len(text) && !utf8.RuneStart(text[j]) {
			j++
		}
		ends = append(ends, j)
		i = j
	}
	return ends
}
