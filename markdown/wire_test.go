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
func TestStreamBytes(t *testing.T) {
	r := New()
	c := corpus(t)
	for _, name := range sortedNames(c) {
		text := c[name]
		final := len(r.Render(text))
		s := r.Stream()
		var dom DOM
		sent, nops := 0, 0
		start := time.Now()
		ends := tokenEnds(text, 1)
		for i, end := range ends {
			ops := s.Grow(text[:end])
			if i == len(ends)-1 {
				ops = append(ops, s.Finish(text)...)
			}
			for _, op := range ops {
				sent += len(op.HTML)
				nops++
				if err := dom.Apply(op); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
		}
		el := time.Since(start)
		if got, want := dom.HTML(), canonical(r.Render(text)); got != want {
			t.Fatalf("%s: the reader does not end with Render's HTML", name)
		}
		t.Logf("%-28s final %6d B  sent %7d B (%.2f×)  %5d tokens  %5d ops  %5.1f µs/token", name, final, sent, float64(sent)/float64(max(final, 1)), len(ends), nops, float64(el.Microseconds())/float64(len(ends)))
		if final > 0 && sent > 2*final {
			t.Errorf("%s: %d bytes sent for %d of HTML", name, sent, final)
		}
	}
}
