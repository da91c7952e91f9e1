package web

import (
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
)

// TestCountdown: every sentence that counts down has its number where the
// catalogue puts it, in every language, and says the same words as
// without a countdown; a failed answer counts from its stored deadline.
func TestCountdown(t *testing.T) {
	ls, err := loadLocales()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range supported {
		l := ls.get(lang)
		for _, c := range []struct {
			key  string
			args []any
		}{
			{"error.code.rate_limited_in", nil},
			{"answer.wait.rate_limited", []any{2, 3}},
			{"answer.wait.other", []any{2, 3}},
		} {
			cd := countdown(l, c.key, 5, "done", c.args...)
			if cd.Secs != 5 || cd.Before+"5"+cd.After != l.T(c.key, append([]any{5}, c.args...)...) {
				t.Errorf("%s %s: %+v", lang, c.key, cd)
			}
		}
		v := messageView{Message: hxchat.Message{State: hxchat.StateError, ErrorCode: hxchat.ERateLimited,
			RetryAt: time.Now().Add(2500 * time.Millisecond)}, L: l}
		v.RetryIn = secondsUntil(v.RetryAt)
		if cd := v.Countdown(); cd == nil || cd.Secs != 3 {
			t.Errorf("%s: countdown of a failed answer %+v", lang, cd)
		}
		v.RetryAt, v.RetryIn = time.Now().Add(-time.Second), 0
		if v.Countdown() != nil || v.StatusText() != l.T("error.code.rate_limited_now") {
			t.Errorf("%s: a wait that is over says %q", lang, v.StatusText())
		}
		if !strings.Contains(l.T("error.code.upstream_auth"), map[string]string{"en": "administrator of hxchat", "ja": "hxchat の管理者"}[lang]) {
			t.Errorf("%s: a refused key does not say who to ask", lang)
		}
	}
}
