// Package hxchat holds the domain of hxchat, a self-hosted LLM chat web app:
// conversations and their messages, the states a message goes through, and the
// interfaces that the adapter packages implement (Store in sqlite/, Provider in
// llm/). It imports nothing of the project; everything else points inward here.
package hxchat

import (
	"crypto/rand"
	"encoding/base32"
)

// idEncoding spells random ids in lower-case base32 without padding: safe in
// URLs, cookies, HTML ids and SSE ids.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random identifier of 128 bits from crypto/rand, 26
// characters long. Conversation and session ids are made with it, so they
// cannot be guessed.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails on supported platforms (Go 1.24+ crashes instead)
	return idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s has the shape of an id made by NewID. Handlers use
// it to refuse malformed ids before they reach the store.
func ValidID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
