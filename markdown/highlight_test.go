package markdown

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/yuin/goldmark/util"
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

// codeStreams returns the texts of n answers of the load benchmark's code
// shape (go run ./bench -code): one Go code block of tokens " w12.0000000042"
// (each answer's own stamp, as the bench's clock makes them differ), a line
// break every line tokens, the closing fence with the last token; and the
// ends of their tokens, which are the same for all. code is the bytes of
// code of each block. With item, the block is in a list item, and a second
// item follows it.
func codeStreams(n, tokens, line int, item bool) (texts []string, ends []int, code int) {
	head, br, tail := "```go\n", "\n", "\n```\n"
	if item {
		head, br, tail = "- item\n\n  ```go\n  ", "\n  ", "\n  ```\n- next\n"
	}
	for k := range n {
		var sb strings.Builder
		for seq := 1; seq <= tokens; seq++ {
			t := fmt.Sprintf(" w%d.%010d", seq, k*tokens+seq)
			if seq == 1 {
				t = head + t
			}
			if seq == tokens {
				t += tail
			}
			if line > 0 && seq%line == 0 && seq < tokens {
				t += br
			}
			sb.WriteString(t)
			if k == 0 {
				ends = append(ends, sb.Len())
			}
		}
		texts = append(texts, sb.String())
	}
	// The code is the text less the head and the tail but for its line
	// break, and in an item less the indentation of each line after the
	// first.
	code = len(texts[0]) - len(head) - len(tail) + 1 - (len(br)-1)*strings.Count(texts[0][len(head):len(texts[0])-len(tail)], br)
	return texts, ends, code
}

// streamInterleaved streams the texts on r, token by token, one token of
// each answer in turn as a server under load does, and finishes each. If
// readers is not nil, it applies each answer's Ops to its reader there.
func streamInterleaved(t testing.TB, r *Renderer, texts []string, ends []int, readers []DOM) {
	streams := make([]*Stream, len(texts))
	for i := range streams {
		streams[i] = r.Stream()
	}
	apply := func(i int, ops []Op) {
		for _, op := range ops {
			if readers == nil {
				return
			}
			if err := readers[i].Apply(op); err != nil {
				t.Fatalf("answer %d: %v: %v", i, err, op)
			}
		}
	}
	for _, end := range ends {
		for i, s := range streams {
			apply(i, s.Grow(texts[i][:end]))
		}
	}
	for i, s := range streams {
		apply(i, s.Finish(texts[i]))
	}
}

// TestCodeLexedOnce: a thousand answers of code streamed at once, more than
// the highlighter's cache holds the lines of, each byte of their code is
// lexed once: while its block streams, and not again when the closing
// fence comes nor when the answer finishes, at the top level or in a list
// item; and each reader ends with what Render shows.
func TestCodeLexedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("a thousand streams")
	}
	for _, item := range []bool{false, true} {
		t.Run(fmt.Sprintf("item=%v", item), func(t *testing.T) { testCodeLexedOnce(t, item) })
	}
}

func testCodeLexedOnce(t *testing.T, item bool) {
	// The load benchmark's shape; under -race, ten times slower, and in a
	// list item, blocks of 32 lines of a token each: still more lines than
	// the cache holds.
	texts, ends, code := codeStreams(1000, 200, 6, item)
	if raceEnabled || item {
		texts, ends, code = codeStreams(1000, 32, 1, item)
	}
	r := New()
	readers := make([]DOM, len(texts))
	streamInterleaved(t, r, texts, ends, readers)
	lexed := r.hl.lexed.Load() // before Render lexes them all again
	for i, text := range texts {
		if got, want := readers[i].HTML(), canonical(r.Render(text)); got != want {
			t.Fatalf("answer %d: the reader holds\n%q\nnot Render's\n%q", i, got, want)
		}
	}
	t.Logf("lexed %d bytes for %d bytes of code (%.2f×)", lexed, code*len(texts), float64(lexed)/float64(code*len(texts)))
	if lexed > int64(code*len(texts)) {
		t.Errorf("lexed %d bytes for %d bytes of code: some code was lexed more than once", lexed, code*len(texts))
	}
}

// TestWriteEscaped: writeEscaped writes what util.EscapeHTML returns, for
// every byte and around the ones it escapes.
func TestWriteEscaped(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c), 'x')
	}
	for _, s := range []string{"", "plain", "<", "a<b>&\"c\x00", "日本語 & <tag>", string(all)} {
		var b bytes.Buffer
		writeEscaped(&b, s)
		if want := util.EscapeHTML([]byte(s)); !bytes.Equal(b.Bytes(), want) {
			t.Errorf("writeEscaped(%q) = %q, not %q", s, b.Bytes(), want)
		}
	}
}

// TestCodeMemoReleased: a Stream keeps the pieces of its code block while
// the block is open and right after its closing fence, and lets go of them
// once the block is final (Mark moves past it), and at Finish.
func TestCodeMemoReleased(t *testing.T) {
	r := New()
	code := "```go\n" + strings.Repeat("x := f(1) // one\n", 20)
	text := code + "```\n\nAfter the code.\n"
	s := r.Stream()
	for _, end := range tokenEnds(code, 1) {
		s.Grow(code[:end])
	}
	if s.memo == nil || len(s.memo.html) == 0 {
		t.Fatal("no memo of the open code block")
	}
	s.Grow(code + "```") // the closing fence, its line not complete
	if s.memo == nil {
		t.Fatal("the memo went before the block was final")
	}
	s.Grow(text)
	if s.memo != nil || s.Mark() == 0 {
		t.Fatalf("the memo is kept after Mark %d moved past the block", s.Mark())
	}

	s = r.Stream()
	s.Grow(code)
	s.Finish(code + "```")
	if s.memo != nil {
		t.Fatal("the memo is kept after Finish")
	}
}
