package markdown

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/hxchat/hxchat/internal/cmspec"
)

// specExamples returns the examples of the CommonMark spec in order. The
// renderer is not meant to comply with the spec (raw HTML is text, images
// are links, link reference definitions are off), so their HTML is there to
// read, not to compare with.
func specExamples(tb testing.TB) []cmspec.Example {
	tb.Helper()
	ex, err := cmspec.Load("../internal/cmspec/testdata/spec.txt")
	if err != nil {
		tb.Fatal(err)
	}
	return ex
}

// unsafeMarkup is what Render must never output, whatever the input: a
// script or img element, or an event handler attribute (on…=) in a tag.
var unsafeMarkup = regexp.MustCompile(`(?i)<script|<img|<[a-z][^>]*\son[a-z]*\s*=`)

// TestSpecExamples renders every example of the CommonMark spec: without a
// panic (below Render's recover, which would hide one), the same each time
// and in a fresh Renderer, and safe (unsafeMarkup, checkSafe). The output
// is not compared with the spec's HTML (see specExamples).
func TestSpecExamples(t *testing.T) {
	examples := specExamples(t)
	if len(examples) != 652 {
		t.Fatalf("%d examples in spec.txt, want 652", len(examples))
	}
	for _, want := range []cmspec.Example{
		{Number: 37, Section: "Entity and numeric character references", Markdown: "&#42;foo&#42;\n*foo*\n", HTML: "<p>*foo*\n<em>foo</em></p>\n"},
		{Number: 394, Section: "Emphasis and strong emphasis",
			Markdown: "**Gomphocarpus (*Gomphocarpus physocarpus*, syn.\n*Asclepias physocarpa*)**\n",
			HTML:     "<p><strong>Gomphocarpus (<em>Gomphocarpus physocarpus</em>, syn.\n<em>Asclepias physocarpa</em>)</strong></p>\n"},
		{Number: 1, Section: "Tabs", Markdown: "\tfoo\tbaz\t\tbim\n", HTML: "<pre><code>foo\tbaz\t\tbim\n</code></pre>\n"},
	} {
		if got := examples[want.Number-1]; got != want {
			t.Errorf("example %d:\n got %#v\nwant %#v", want.Number, got, want)
		}
	}
	r, fresh := New(), New()
	for _, ex := range examples {
		src := source(ex.Markdown)
		out := r.renderDoc(src, r.parse(src)) // no recover: a panic fails the test
		if again := r.Render(ex.Markdown); !bytes.Equal(again, out) {
			t.Errorf("example %d (%s): Render(%q) differs from itself:\n%q\n%q", ex.Number, ex.Section, ex.Markdown, out, again)
		}
		if other := fresh.Render(ex.Markdown); !bytes.Equal(other, out) {
			t.Errorf("example %d (%s): Render(%q) differs in another Renderer:\n%q\n%q", ex.Number, ex.Section, ex.Markdown, out, other)
		}
		if m := unsafeMarkup.Find(out); m != nil {
			t.Errorf("example %d (%s): %q in Render(%q):\n%s", ex.Number, ex.Section, m, ex.Markdown, out)
		}
		checkSafe(t, ex.Markdown, out)
	}
}
