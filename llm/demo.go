package llm

import (
	"context"
	"errors"
	"iter"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hxchat/hxchat"
)

// DemoOptions configure the offline demo model.
type DemoOptions struct {
	// TokensPerSecond paces the answer; 0 means no delay (for tests).
	// The app uses 30.
	TokensPerSecond float64
}

// NewDemo returns the offline demo model: it needs no network and no key,
// and answers every question with the same kind of text, deterministic for
// a given question: a short quote of the question, a bullet list, a Go code
// block, and how to connect a real model. It answers in Japanese when the
// question contains kana or kanji.
func NewDemo(o DemoOptions) hxchat.Provider {
	var interval time.Duration
	if o.TokensPerSecond > 0 {
		interval = time.Duration(float64(time.Second) / o.TokensPerSecond)
	}
	return &demo{interval: interval}
}

type demo struct{ interval time.Duration }

func (*demo) Name() string  { return "Demo model (offline)" }
func (*demo) Model() string { return "demo" }

// Stream yields the answer a few characters at a time, then a delta with
// FinishReason "stop" and a Usage. Cancelling ctx ends it at once.
func (d *demo) Stream(ctx context.Context, req hxchat.ChatRequest) iter.Seq2[hxchat.Delta, error] {
	return func(yield func(hxchat.Delta, error) bool) {
		question := ""
		for _, t := range req.Messages {
			if t.Role == hxchat.RoleUser {
				question = t.Content
			}
		}
		tokens := splitTokens(demoAnswer(question))
		for i, tok := range tokens {
			if i > 0 && d.interval > 0 {
				sleep(ctx, d.interval)
			}
			if ctx.Err() != nil {
				yield(hxchat.Delta{}, ctxError(ctx))
				return
			}
			if !yield(hxchat.Delta{Text: tok}, nil) {
				return
			}
		}
		prompt := estimateTokens(req.System)
		for _, t := range req.Messages {
			prompt += estimateTokens(t.Content)
		}
		yield(hxchat.Delta{FinishReason: hxchat.FinishStop,
			Usage: &hxchat.Usage{PromptTokens: prompt, CompletionTokens: int64(len(tokens))}}, nil)
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ctxError is what a stream yields when ctx ended: ctx's own error when the
// caller cancelled, an ETimeout error when its deadline passed.
func ctxError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &hxchat.Error{Code: hxchat.ETimeout, Message: "The model took too long to answer.", Err: ctx.Err()}
	}
	return ctx.Err()
}

// demoAnswer fills the English or Japanese answer with a short quote of the
// question.
func demoAnswer(question string) string {
	q := shortQuote(question)
	if isJapanese(question) {
		if q == "" {
			q = "ご質問"
		}
		return markdownTicks.Replace(strings.ReplaceAll(demoJapanese, "{q}", q))
	}
	if q == "" {
		q = "your message"
	}
	return markdownTicks.Replace(strings.ReplaceAll(demoEnglish, "{q}", q))
}

// shortQuote returns the first non-empty line of s, its spaces collapsed,
// at most 60 characters (cut at a word when it can), without backticks
// (they would open code spans).
func shortQuote(s string) string {
	const max = 60
	line := ""
	for l := range strings.Lines(s) {
		if line = strings.Join(strings.Fields(l), " "); line != "" {
			break
		}
	}
	line = strings.ReplaceAll(line, "`", "'")
	if utf8.RuneCountInString(line) > max {
		cut := string([]rune(line)[:max-1])
		if i := strings.LastIndexByte(cut, ' '); i > len(cut)/2 {
			cut = cut[:i] // end at a word
		}
		line = cut + "…"
	}
	return line
}

// isJapanese reports whether s contains kana or kanji.
func isJapanese(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han) {
			return true
		}
	}
	return false
}

// isWide reports whether r is written without spaces between words:
// kana, kanji, and CJK or full-width punctuation.
func isWide(r rune) bool {
	return unicode.In(r, unicode.Hiragana, unicode.Katakana, unicode.Han) ||
		r >= 0x3000 && r <= 0x303f || r >= 0xff00 && r <= 0xffef
}

// splitTokens cuts text into word-ish tokens whose concatenation is text:
// leading white space, then a word or up to three kana/kanji.
func splitTokens(text string) []string {
	var tokens []string
	for len(text) > 0 {
		i := 0
		for i < len(text) {
			r, n := utf8.DecodeRuneInString(text[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += n
		}
		for wide := 0; i < len(text); {
			r, n := utf8.DecodeRuneInString(text[i:])
			w := isWide(r)
			if unicode.IsSpace(r) || wide == 3 || wide > 0 && !w || wide == 0 && w && isWordAt(text, i) {
				break
			}
			if w {
				wide++
			}
			i += n
		}
		tokens = append(tokens, text[:i])
		text = text[i:]
	}
	return tokens
}

// isWordAt reports whether a narrow word ends at text[i] (a token must not
// mix a word and the kana that follow it).
func isWordAt(text string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(text[:i])
	return i > 0 && !unicode.IsSpace(r)
}

// estimateTokens guesses a token count: four letters, or one kana/kanji, a
// token.
func estimateTokens(s string) int64 {
	narrow, wide := 0, 0
	for _, r := range s {
		if isWide(r) {
			wide++
		} else {
			narrow++
		}
	}
	return int64(math.Ceil(float64(narrow)/4)) + int64(wide)
}
