package fold

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

func TestString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ＳＳＥ", "sse"},
		{"SSE", "sse"},
		{"ｈｔｍｘ　４", "htmx 4"},
		{"ｶﾀｶﾅ", "カタカナ"},
		{"ｶﾞｲﾄﾞ", "ガイド"}, // half-width voicing marks join their kana
		{"カタカナ", "カタカナ"},
		{"ひらがな", "ひらがな"},     // hiragana stays hiragana
		{"Éclair", "Éclair"}, // only ASCII letters change case
		{"①２３", "123"},
		{"", ""},
	} {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFind(t *testing.T) {
	for _, c := range []struct {
		s, q string
		want []string // the matched text of s, as written
	}{
		{"about ＳＳＥ and sse", "SSE", []string{"ＳＳＥ", "sse"}},
		{"about SSE", "ｓｓｅ", []string{"SSE"}},
		{"ｶﾞｲﾄﾞを読む", "ガイド", []string{"ｶﾞｲﾄﾞ"}},
		{"ガイドを読む", "ｶﾞｲﾄﾞ", []string{"ガイド"}},
		{"東京と京都", "京", []string{"京", "京"}},
		{"nothing", "SSE", nil},
		{"text", "   ", []string{}},
	} {
		var got []string
		for _, r := range Find(c.s, c.q, 0) {
			got = append(got, c.s[r[0]:r[1]])
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Find(%q, %q) = %q, want %q", c.s, c.q, got, c.want)
		}
	}
	if got := Find("a a a", "a", 2); len(got) != 2 {
		t.Errorf("Find with max 2: %v", got)
	}
}

func TestSnippet(t *testing.T) {
	for _, c := range []struct{ s, q, want string }{
		{"one two three four five", "three", "…two three fo…"},
		{"three\n\nfour", "three", "three f…"}, {"a\n\nthree", "three", "a three"},
		{"長い日本語の文章で東京に行く話です", "東京", "…の文章で東京に行く…"},
		{"no match", "x", ""},
	} {
		if got := Snippet(c.s, c.q, 4, 3); got != c.want {
			t.Errorf("Snippet(%q, %q) = %q, want %q", c.s, c.q, got, c.want)
		}
	}
}

// TestStringBySegments: String, which folds text whole, folds as Find does,
// one NFKC segment at a time.
func TestStringBySegments(t *testing.T) {
	for _, s := range []string{
		"ＳＳＥ and SSE", "ｶﾞｲﾄﾞを読む", "Ｈｅｌｌｏ　Ｗｏｒｌｄ！", "e\u0301te\u0301 Café", "①②③ ㍻ ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ",
		"한국어 ﾟ゛", "Ǆ ﬁ ẞ", "\u200b\ufeffzero width", "東京に行きたい。",
	} {
		var b strings.Builder
		var it norm.Iter
		it.InitString(norm.NFKC, s)
		for !it.Done() {
			b.WriteString(segment(it.Next()))
		}
		if got, want := String(s), b.String(); got != want {
			t.Errorf("String(%q) = %q, by segments %q", s, got, want)
		}
	}
}

func BenchmarkString(b *testing.B) {
	for _, c := range []struct{ name, text string }{
		{"ja", strings.Repeat("東京に行きたいです。SSE の話をします。", 100)},
		{"ascii", strings.Repeat("Server-Sent Events reconnect with Last-Event-ID. ", 100)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.text)))
			for b.Loop() {
				String(c.text)
			}
		})
	}
}
