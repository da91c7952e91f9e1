package markdown

import (
	"testing"
	"time"
)

// TestStreamBytes streams every answer of the corpus in tokens of 1 to 6
// bytes and checks that what a reader is sent stays linear in the answer:
// the HTML of all Ops is at most twice the final HTML (the rest of an
// event, its framing, is a constant per Op that package web adds). It logs
// each answer's figures: run it with -v to see them.
//
// One answer goes over: en-links-html.md, made of links and little else.
// A URL that linkify makes a link as it is written is a new <a> at every
// token (its href changes), about 80 bytes more each time; so are the
// links whose closing parenthesis or bracket turns text into one. It is
// allowed three times its HTML.
func TestStreamBytes(t *testing.T) {
	r := New()
	c := corpus(t)
	for _, name := range sortedNames(c) {
		text := c[name]
		final := len(r.Render(text))
		s := r.Stream()
		var dom DOM
		sent, ops := 0, 0
		start := time.Now()
		ends := tokenEnds(text, 1)
		for _, end := range ends {
			for _, op := range s.Grow(text[:end]) {
				sent += len(op.HTML)
				ops++
				if err := dom.Apply(op); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
		}
		el := time.Since(start)
		if got, want := dom.HTML(), canonical(r.Render(text)); got != want {
			t.Fatalf("%s: the reader does not end with Render's HTML", name)
		}
		t.Logf("%-28s final %6d B  sent %7d B (%.2f×)  %5d tokens  %5d ops  %5.1f µs/token", name, final, sent, float64(sent)/float64(max(final, 1)), len(ends), ops, float64(el.Microseconds())/float64(len(ends)))
		limit := 2 * final
		if name == "en-links-html.md" {
			limit = 3 * final
		}
		if final > 0 && sent > limit {
			t.Errorf("%s: %d bytes sent for %d of HTML", name, sent, final)
		}
	}
}
