// Package fold makes text comparable as a reader compares it, for search:
// full-width ＳＳＥ is SSE, half-width ｶﾀｶﾅ is カタカナ, ｶﾞ is ガ, and ASCII
// letters match in either case. The store folds both the text it searches
// and the query; the page marks, in the text as written, where the folded
// query matched.
package fold

import (
	"strings"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// String returns s folded: Unicode NFKC (compatibility characters such as
// full-width Latin letters, digits and punctuation, half-width katakana and
// their voicing marks become their ordinary forms), then width folding (what
// NFKC leaves of East Asian width variants), then ASCII letters in lower
// case. Letters of other scripts keep their case.
//
// The store folds every message it searches, so this is made fast for the
// common cases: ASCII text is only lowered, other text is transformed whole
// (Find, which needs to know where each character came from, folds
// character by character, to the same result).
func String(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return asciiLower(width.Fold.String(norm.NFKC.String(s)))
		}
	}
	return asciiLower(s)
}

// segment folds a segment that NFKC returned: width, then ASCII case.
func segment(seg []byte) string {
	s := width.Fold.String(string(seg))
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return asciiLower(s)
		}
	}
	return s
}

func asciiLower(s string) string {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Find returns where query matches in s, both folded, as byte ranges
// [start, end) of s as written, in order and not overlapping; at most max
// of them (0: all). A query that folds to nothing matches nowhere.
func Find(s, query string, max int) [][2]int {
	q := String(query)
	if q == "" {
		return nil
	}
	// The folded text, and for each of its bytes the range of s it came
	// from (a segment of NFKC: a character with its combining marks).
	var b strings.Builder
	var from, to []int
	var it norm.Iter
	it.InitString(norm.NFKC, s)
	for !it.Done() {
		start := it.Pos()
		f := segment(it.Next())
		end := it.Pos()
		b.WriteString(f)
		for range len(f) {
			from, to = append(from, start), append(to, end)
		}
	}
	folded := b.String()
	var out [][2]int
	for i := 0; i+len(q) <= len(folded); {
		j := strings.Index(folded[i:], q)
		if j < 0 {
			break
		}
		i += j
		r := [2]int{from[i], to[i+len(q)-1]}
		if n := len(out); n > 0 && r[0] < out[n-1][1] {
			r[0] = out[n-1][1] // two matches in one segment: never overlap
		}
		if r[0] < r[1] {
			out = append(out, r)
		}
		if max > 0 && len(out) == max {
			break
		}
		i += len(q)
	}
	return out
}

// Snippet returns the part of s around the first match of query: about
// before characters before it and after characters after it, cut at
// characters, with line breaks and runs of spaces as one space and "…"
// where s was cut. It returns "" when query does not match.
func Snippet(s, query string, before, after int) string {
	m := Find(s, query, 1)
	if m == nil {
		return ""
	}
	start, end := m[0][0], m[0][1]
	lead, tail := "", ""
	for n := 0; start > 0; n++ {
		if n == before {
			lead = "…"
			break
		}
		start = prevRune(s, start)
	}
	for n := 0; end < len(s); n++ {
		if n == after {
			tail = "…"
			break
		}
		end = nextRune(s, end)
	}
	return lead + strings.Join(strings.Fields(s[start:end]), " ") + tail
}

func prevRune(s string, i int) int {
	i--
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return i
}

func nextRune(s string, i int) int {
	i++
	for i < len(s) && s[i]&0xC0 == 0x80 {
		i++
	}
	return i
}
