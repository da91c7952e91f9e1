package markdown

import (
	"fmt"
	"testing"
)

// TestHighlighterKeepsWhatIsUsed: a piece looked up again and again is
// never lexed again while many times the cache's size of other pieces come and go
// (the open lines of one answer among those of a thousand others); the
// cache stays within its bounds; a piece not used again is forgotten.
func TestHighlighterKeepsWhatIsUsed(t *testing.T) {
	var h highlighter
	l := lexerFor("go")
	used := []byte("x := compute(42) // the open line\n")
	key := "go\x00" + string(used)
	want := h.get(l, "go", used)
	for i := range 4 * cacheMaxEntries {
		h.get(l, "go", fmt.Appendf(nil, "v%d := %d\n", i, i))
		if i%1000 == 0 {
			if got := h.get(l, "go", used); &got.html[0] != &want.html[0] {
				t.Fatalf("after %d pieces, the piece used all along was lexed again", i+1)
			}
		}
		if len(h.cur) > cacheMaxEntries || len(h.old) > cacheMaxEntries || h.size > cacheMaxBytes {
			t.Fatalf("after %d pieces: %d and %d entries, %d bytes", i+1, len(h.cur), len(h.old), h.size)
		}
	}
	_, inCur := h.cur[key]
	_, inOld := h.old[key]
	if !inCur && !inOld {
		t.Fatal("the piece used all along was forgotten")
	}
	if _, ok := h.cur["go\x00v0 := 0\n"]; ok {
		t.Error("a piece not used again is still remembered")
	}
	if _, ok := h.old["go\x00v0 := 0\n"]; ok {
		t.Error("a piece not used again is still remembered")
	}
}
