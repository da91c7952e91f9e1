package markdown

import (
	"bytes"
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
		var all, tail []byte
		for _, end := range tokenEnds(src, seed+1) {
			done, tl := s.Grow(src[:end])
			if done != nil {
				checkSafe(t, src, done)
			}
			if len(src) < 512 || end == len(src) {
				checkSafe(t, src, tl)
			}
			all, tail = append(all, done...), tl
		}
		if all = append(all, tail...); !bytes.Equal(all, out) {
			t.Fatalf("streamed output differs from Render(%q):\n got %q\nwant %q", src, all, out)
		}
	})
}
