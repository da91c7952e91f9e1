package markdown

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// codeLineTexts are answers of code for TestCodeLineFast: fences of every
// kind, languages known and not, lines that look like fences, characters
// that HTML escapes, CRLF, tabs, Japanese, long lines, code in lists and
// quotes, and text after the block.
func codeLineTexts() map[string]string {
	goCode := "package main\n\nimport \"fmt\"\n\n// main says <hi> & 'bye'.\nfunc main() {\n\tx := []int{1, 2, 3}\n\tfor i := range x {\n\t\tfmt.Println(\"a<b>&c\", i, `raw\nstring`)\n\t}\n\t/* a comment\n\t   over lines */\n\ts := \"日本語のテキスト\"\n\t_ = s\n}\n"
	pyCode := "def f(x):\n    \"\"\"Doc\n    string.\"\"\"\n    return x < 2 and x > 0 or x & 1\n\n\nclass C:\n    pass  # comment 'q' \"dq\"\n"
	fenceLike := "``not a fence\n`` ``\n~~~ x\n   ```go\n````\n  ~~  \n``\t`\n\t```\n    ```\n"
	long := strings.Repeat("abcdefghij<>&\"' ", 40) + "\n" + strings.Repeat("x", 700) + "\n"
	t := map[string]string{
		"go":           "```go\n" + goCode + "```\n\nafter the block\n",
		"go-open":      "Intro:\n\n```go\n" + goCode,
		"py-tilde":     "~~~python\n" + pyCode + "~~~\n",
		"none":         "```\n" + goCode + fenceLike + "```\nafter\n",
		"unknown":      "```zzz-unknown\n" + pyCode + fenceLike + "```\n",
		"four":         "````md\n" + fenceLike + "```\nstill code\n````\nafter\n",
		"tilde-long":   "~~~~\n" + fenceLike + "~~~\n~~~~~\n",
		"indented":     "  ```go\n" + goCode + "   not indented enough\n      deep\n\t\ttabbed\n  ```\n",
		"indented3":    "   ~~~\n  a\n   b\n    c\n \t d\n   ~~~\n",
		"long":         "```text\n" + long + long + "```\n",
		"japanese":     "```\n日本語のコード。\n「かぎ括弧」と <タグ> & 記号\n```\n",
		"emoji":        "```js\nconst s = \"😀 𝄞\"; // 😀\n```\n",
		"crlf":         strings.ReplaceAll("```go\n"+goCode+"```\n", "\n", "\r\n"),
		"crlf-none":    strings.ReplaceAll("```\n"+fenceLike+"```\nafter\n", "\n", "\r\n"),
		"lone-cr":      "```\na\rb\r```\rc\n```\n",
		"nul":          "```\na\x00b\n\x00```\n```\n",
		"invalid-utf8": "```\nbad \xff byte\ncut \xe3\x81 rune\n\xe3\x81\x82\n```\n",
		"lang-escape":  "```c\\&amp;x\nint x = 1 < 2;\n```\n",
		"blank-lines":  "```go\n\n\n  \n\t\nx := 1\n   \n```\n",
		"spaces-only":  "```\n   \n\t\t\n \t \n",
		"item":         "- item\n\n  ```go\n" + indent(goCode, "  ") + "  ```\n- next\n",
		"item-py":      "1. one\n   ```py\n" + indent(pyCode+fenceLike, "   ") + "   ```\n2. two\n",
		"quote":        "> ```go\n" + indent(goCode, "> ") + "> ```\n\nafter\n",
		"two-blocks":   "```go\nx := 1\n```\n```py\ny = 2\n```\n~~~\nz\n",
		"no-newline":   "```go\nx := 1",
		"close-then":   "```\na\n```   \nb\n",
	}
	return t
}

// indent puts p before each line of s.
func indent(s, p string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = p + l
		}
	}
	return strings.Join(lines, "")
}

// byteEnds splits text into tokens of 1 to max bytes at any byte, runes cut
// too.
func byteEnds(text string, seed uint64, max int) []int {
	rng := rand.New(rand.NewPCG(seed, 7))
	var ends []int
	for i := 0; i < len(text); {
		i = min(i+1+rng.IntN(max), len(text))
		ends = append(ends, i)
	}
	return ends
}

// TestCodeLineFast streams answers of code token by token through a Stream
// with growLine and through one without, and requires the same Ops at
// every step, the same copy of the reader (s.tree, node for node) and the
// same state, and at the end the same HTML as Render. It also requires
// that growLine took most steps of code, so that it is what is tested.
func TestCodeLineFast(t *testing.T) {
	r := New()
	texts := codeLineTexts()
	fast, steps := 0, 0
	for _, name := range sortedNames(texts) {
		text := texts[name]
		splits := map[string][]int{"runes": runeEnds(text)}
		for seed := range uint64(6) {
			splits[fmt.Sprintf("bytes%d", seed)] = byteEnds(text, seed, 2+int(seed)*4)
			splits[fmt.Sprintf("tokens%d", seed)] = tokenEnds(text, seed)
		}
		for how, ends := range splits {
			f, n := checkCodeLine(t, r, name+"/"+how, text, ends, true)
			fast, steps = fast+f, steps+n
		}
	}
	t.Logf("growLine took %d of %d steps", fast, steps)
	if fast < steps/2 {
		t.Errorf("growLine took only %d of %d steps", fast, steps)
	}
}

// checkCodeLine is TestCodeLineFast for one text and split; it returns how
// many steps growLine took, and how many steps there were. The reader's
// HTML is checked against Render's if render is set.
func checkCodeLine(t *testing.T, r *Renderer, name, text string, ends []int, render bool) (fast, steps int) {
	t.Helper()
	defer func() { codeFast = true }()
	a, b := r.Stream(), r.Stream()
	var da, db DOM
	for i, end := range ends {
		cur := text[:end]
		var oa, ob []Op
		final := i == len(ends)-1
		codeFast = true
		if wouldLine(a, cur) {
			fast++
		}
		steps++
		if final {
			oa = append(a.Grow(cur), a.Finish(cur)...)
		} else {
			oa = a.Grow(cur)
		}
		codeFast = false
		if final {
			ob = append(b.Grow(cur), b.Finish(cur)...)
		} else {
			ob = b.Grow(cur)
		}
		if got, want := fmt.Sprint(oa), fmt.Sprint(ob); got != want {
			t.Fatalf("%s: after %q:\nOps %s\nnot %s", name, cur, got, want)
		}
		if msg := sameStream(a, b); msg != "" {
			t.Fatalf("%s: after %q: %s", name, cur, msg)
		}
		for _, op := range oa {
			if err := da.Apply(op); err != nil {
				t.Fatalf("%s: after %q: %v: %v", name, cur, err, op)
			}
		}
		for _, op := range ob {
			if err := db.Apply(op); err != nil {
				t.Fatalf("%s: after %q: %v: %v", name, cur, err, op)
			}
		}
	}
	if got, want := da.HTML(), canonical(r.Render(text)); render && got != want {
		t.Fatalf("%s: the reader holds\n%q\nnot Render's\n%q", name, got, want)
	}
	if da.HTML() != db.HTML() {
		t.Fatalf("%s: the readers differ", name)
	}
	return fast, steps
}

// wouldLine reports whether growLine takes the step to text, on s or on
// its nestedCode's sub, without changing either.
func wouldLine(s *Stream, text string) bool {
	if s.block != nil && s.block.nested != nil {
		nc := s.block.nested
		code, _, partial, ok := nc.read(text)
		if !ok {
			return false
		}
		s, text = nc.sub, string(code)+partial
	}
	if s.code == nil || len(text) < s.code.start {
		return false
	}
	cp, c := *s, *s.code
	cp.code = &c
	_, ok := cp.growLine(text)
	return ok
}

// sameStream returns what differs between the states of a and b, "" if
// nothing.
func sameStream(a, b *Stream) string {
	if a.mark != b.mark {
		return fmt.Sprintf("Mark %d, not %d", a.mark, b.mark)
	}
	if msg := sameNodes(a.tree, b.tree); msg != "" {
		return "tree: " + msg
	}
	if (a.code == nil) != (b.code == nil) {
		return "one has a codeTail"
	}
	if a.code != nil {
		ca, cb := a.code, b.code
		if ca.fence != cb.fence || ca.start != cb.start || !bytes.Equal(ca.carry, cb.carry) ||
			(ca.carry == nil) != (cb.carry == nil) || ca.text != cb.text || ca.lang != cb.lang ||
			!bytes.Equal(ca.html, cb.html) {
			return fmt.Sprintf("codeTail %+v\nnot %+v", *ca, *cb)
		}
	}
	if (a.block == nil) != (b.block == nil) {
		return "one has a blockTail"
	}
	if a.block != nil {
		na, nb := a.block.nested, b.block.nested
		if (na == nil) != (nb == nil) {
			return "one has a nestedCode"
		}
		if na != nil {
			if msg := sameStream(na.sub, nb.sub); msg != "" {
				return "nested: " + msg
			}
		}
	}
	if (a.memo == nil) != (b.memo == nil) {
		return "one has a memo"
	}
	if a.memo != nil && (a.memo.lang != b.memo.lang || !bytes.Equal(a.memo.code, b.memo.code) ||
		len(a.memo.html) != len(b.memo.html) || a.memo.size != b.memo.size || a.memo.full != b.memo.full) {
		return "memos differ"
	}
	return ""
}

// sameNodes returns where trees a and b differ, "" if nowhere.
func sameNodes(a, b []node) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d nodes, not %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.elem != y.elem || x.off != y.off || x.open != y.open || !bytes.Equal(x.raw, y.raw) {
			return fmt.Sprintf("node %d: %q at %d, not %q at %d", i, x.raw, x.off, y.raw, y.off)
		}
		if msg := sameNodes(x.kids, y.kids); msg != "" {
			return fmt.Sprintf("in node %d: %s", i, msg)
		}
	}
	return ""
}

// TestCodeLineNotContinuation: a text that does not continue the last one
// in the line being written (Grow's contract broken) is rendered as the
// general path renders it, growLine or not.
func TestCodeLineNotContinuation(t *testing.T) {
	r := New()
	defer func() { codeFast = true }()
	for _, texts := range [][]string{
		{"```go\nx := 1\nabc", "```go\nx := 1\nabcd", "```go\nx := 1\nxbcde"},
		{"```go\nx := 1\nabc", "```go\nx := 2\nabcd"},
		{"```\nab", "```\nabc", "```\nab", "```\nabd"},
	} {
		a, b := r.Stream(), r.Stream()
		for _, text := range texts {
			codeFast = true
			oa := a.Grow(text)
			codeFast = false
			ob := b.Grow(text)
			if got, want := fmt.Sprint(oa), fmt.Sprint(ob); got != want {
				t.Fatalf("after %q:\nOps %s\nnot %s", text, got, want)
			}
			if msg := sameStream(a, b); msg != "" {
				t.Fatalf("after %q: %s", text, msg)
			}
		}
	}
}

// FuzzCodeLine is TestCodeLineFast on any code: the text, behind a fence
// of any kind (or after any text, when it holds one), streamed in tokens
// cut at any byte. It checks growLine against the general path only, not
// the general path against Render, which is FuzzRender's part.
//
//	go test -run '^$' -fuzz FuzzCodeLine -fuzztime 5m ./markdown/
func FuzzCodeLine(f *testing.F) {
	for _, name := range sortedNames(codeLineTexts()) {
		f.Add(codeLineTexts()[name], uint64(len(name)), uint8(0))
	}
	f.Add("x := 1\n```\ny", uint64(1), uint8(1))
	f.Add("a\n  ~~~ b\n~~~~~\nc", uint64(2), uint8(2))
	r := New()
	heads := []string{"", "```\n", "```go\n", "~~~py\n", "````\n", "  ```js\n", "- ```go\n  ", "> ~~~\n> "}
	f.Fuzz(func(t *testing.T, code string, seed uint64, head uint8) {
		if len(code) > 2<<10 {
			return
		}
		text := heads[int(head)%len(heads)] + code
		checkCodeLine(t, r, "fuzz", text, byteEnds(text, seed, 1+int(seed%9)), false)
	})
}
