package markdown

import (
	"testing"
)

// FuzzRender checks, for any input, that Render's output passes the
// allow-list of checkSafe, and that streaming the input in tokens (cut at
// rune boundaries, sizes drawn from seed) reproduces Render at every step
// and at the end (properties (a) and (b) of Stream), each part safe too.
//
//	go test -run '^$' -fuzz FuzzRender -fuzztime 5m ./markdown/
func FuzzRender(f *testing.F) {
	for _, v := range xssVectors {
		f.Add(v, uint64(1))
	}
	for _, text := range shortTexts {
		f.Add(text, uint64(2))
	}
	c := corpus(f)
	for _, name := range sortedNames(c) {
		f.Add(c[name], uint64(len(name)))
	}
	r := New()
	f.Fuzz(func(t *testing.T, src string, seed uint64) {
		if len(src) > 4<<10 {
			return // long inputs only slow the search down
		}
		out := r.Render(src)
		checkSafe(t, src, out)
		checkStream(t, r, src, tokenEnds(src, seed))
		// Another split, each part checked.
		s := r.Stream()
		var dom DOM
		ends := tokenEnds(src, seed+1)
		for i, end := range ends {
			ops := s.Grow(src[:end])
			if i == len(ends)-1 {
				ops = append(ops, s.Finish(src[:end])...)
			}
			for _, op := range ops {
				checkSafe(t, src, op.HTML)
				if err := dom.Apply(op); err != nil {
					t.Fatalf("%q: %v", src, err)
				}
			}
		}
		if got, want := dom.HTML(), canonical(out); got != want {
			t.Fatalf("streamed output differs from Render(%q):\n got %q\nwant %q", src, got, want)
		}
	})
}
