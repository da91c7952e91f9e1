package hxchat_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hxchat/hxchat"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := hxchat.NewID()
		if !hxchat.ValidID(id) || seen[id] {
			t.Fatalf("NewID() = %q: invalid or repeated", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "short", strings.Repeat("a", 25), strings.Repeat("a", 27), strings.Repeat("A", 26), strings.Repeat("1", 26), strings.Repeat("a", 25) + "/"} {
		if hxchat.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestTitleFrom(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"  hello  ", "hello"},
		{"first line\nsecond", "first line"},
		{"\u3000全角スペース\u3000", "全角スペース"},
		{strings.Repeat("あ", 100), strings.Repeat("あ", 79) + "…"},
		{"", ""},
	} {
		if got := hxchat.TitleFrom(tc.in); got != tc.want {
			t.Errorf("TitleFrom(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	wrapped := fmt.Errorf("context: %w", &hxchat.Error{Code: hxchat.ERateLimited, Message: "busy", Err: errors.New("429 from upstream")})
	if hxchat.Code(wrapped) != hxchat.ERateLimited || hxchat.SafeMessage(wrapped) != "busy" {
		t.Errorf("Code/SafeMessage of a wrapped error: %s, %q", hxchat.Code(wrapped), hxchat.SafeMessage(wrapped))
	}
	plain := errors.New("disk on fire at /var/lib/secret")
	if hxchat.Code(plain) != hxchat.EInternal || strings.Contains(hxchat.SafeMessage(plain), "secret") {
		t.Error("a plain error must map to EInternal with a message that reveals nothing")
	}
	if hxchat.Code(nil) != "" {
		t.Error("Code(nil) != \"\"")
	}
	if !hxchat.StateError.Retryable() || hxchat.StateDone.Retryable() || hxchat.StateStreaming.Final() {
		t.Error("state predicates")
	}
}
