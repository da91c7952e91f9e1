package web

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hxchat/hxchat"
)

// countdownView is a sentence with a number of seconds that the page counts
// down (app.js, countdowns): the template "countdown" shows Before, the
// number and After, and the page puts Done in place of the sentence when
// the count reaches 0.
type countdownView struct {
	Before, After string
	Secs          int
	Done          string
}

// countdownSlot stands for the number while the sentence is formatted: the
// words around it are what the catalogue puts there, in either language.
const countdownSlot = -7654321

// countdown formats message key of l with secs as its first argument (a
// %d) and args after it, as a sentence whose number counts down, and done
// as what it says at 0.
func countdown(l *locale, key string, secs int, done string, args ...any) *countdownView {
	s := l.T(key, append([]any{countdownSlot}, args...)...)
	before, after, ok := strings.Cut(s, strconv.Itoa(countdownSlot))
	if !ok { // a catalogue without the number: the words alone
		return &countdownView{Before: l.T(key, append([]any{secs}, args...)...), Done: done}
	}
	return &countdownView{Before: before, After: after, Secs: secs, Done: done}
}

// secondsUntil returns the whole seconds from now until t, rounded up; 0
// when t is zero or past.
func secondsUntil(t time.Time) int {
	if t.IsZero() {
		return 0
	}
	return max(int(math.Ceil(time.Until(t).Seconds())), 0)
}

// Countdown, for an answer refused because the model service was busy and
// said for how long, says when to retry, counting down; nil otherwise.
func (v messageView) Countdown() *countdownView {
	if v.State != hxchat.StateError || v.ErrorCode != hxchat.ERateLimited || v.RetryIn <= 0 {
		return nil
	}
	return countdown(v.L, "error.code.rate_limited_in", v.RetryIn, v.L.T("error.code.rate_limited_now"))
}

// WaitCountdown says that the model service is asked again, and when,
// counting down.
func (v messageView) WaitCountdown() *countdownView { return waitCountdown(v.L, *v.Wait) }

// Countdown says that the model service is asked again, and when, counting
// down.
func (v waitView) Countdown() *countdownView { return waitCountdown(v.L, *v.Wait) }

// waitCountdown says that the model service is asked again, and when.
func waitCountdown(l *locale, r hxchat.Retry) *countdownView {
	key := "answer.wait.other"
	if r.Code == hxchat.ERateLimited {
		key = "answer.wait.rate_limited"
	}
	secs := max(int(math.Ceil(r.After.Seconds())), 1)
	return countdown(l, key, secs, l.T("answer.wait.now"), r.Attempt, r.Of)
}

// noRetry lists the errors that the same request would meet again: an
// administrator has to act (the key, the set-up, the quota), or the user
// has to change the question.
var noRetry = map[hxchat.ErrorCode]bool{
	hxchat.EUpstreamAuth:  true,
	hxchat.EUpstreamSetup: true,
	hxchat.EQuota:         true,
	hxchat.EFiltered:      true,
	hxchat.EContextLength: true,
}

// CanRetry reports whether the answer offers Retry: it ended early, and
// asking again can help.
func (v messageView) CanRetry() bool {
	return v.State.Retryable() && !(v.State == hxchat.StateError && noRetry[v.ErrorCode])
}

// AskAdmin reports whether the answer failed in a way that only an
// administrator of hxchat can mend: the page then shows the request id
// to give them.
func (v messageView) AskAdmin() bool {
	if v.State != hxchat.StateError {
		return false
	}
	switch v.ErrorCode {
	case hxchat.EUpstreamAuth, hxchat.EUpstreamSetup, hxchat.EQuota:
		return true
	}
	return false
}
