package web

import "github.com/hxchat/hxchat"

// The size limit of a message is in bytes (the config's -max-message-kib);
// users count characters. A page says it as about how many characters of
// the reader's language fit, and the message box counts down near the limit
// (app.js, sizeCounter).

// bytesPerChar is how many bytes of UTF-8 a character of each language
// takes, as most of its text is written: ASCII for English, kana and kanji
// for Japanese.
var bytesPerChar = map[string]int{"en": 1, "ja": 3}

// approxChars says about how many characters of l's language fit in max
// bytes, rounded down to a number a reader takes in at a glance: 32 KiB is
// "32,700" in English and "10,900" in Japanese.
func approxChars(l *locale, max int) string {
	per := bytesPerChar[l.Lang]
	if per == 0 {
		per = 1
	}
	n := max / per
	switch {
	case n >= 1000:
		n -= n % 100
	case n >= 100:
		n -= n % 10
	}
	return l.Num(int64(n))
}

// tooLong is the refusal of a message over max bytes, in characters.
func tooLong(max int) error {
	return &localError{code: hxchat.ETooLarge, key: "error.too_long", argsFor: func(l *locale) []any {
		return []any{approxChars(l, max)}
	}}
}
