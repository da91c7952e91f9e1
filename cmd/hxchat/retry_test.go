package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// TestRateLimitWait: a 429 before the first token is retried after the wait
// the service asked for, and the answer says so while it waits; the answer
// then streams as usual. When the retries run out, the answer says when to
// try again, and Retry works.
func TestRateLimitWait(t *testing.T) {
	busy := llmtest.Reply{Status: 429, Headers: map[string]string{"retry-after-ms": "300"}}
	up := llmtest.NewServer(t)
	up.Reply(busy, busy, llmtest.Reply{Tokens: answerTokens})
	b := newBrowser(t, startApp(t, testConfig(up, t.TempDir())))
	_, events := b.send("", "hello")
	evs := b.stream(events, "", 0)

	var waits []string
	for _, ev := range evs {
		if strings.Contains(ev.data, "waiting") {
			waits = append(waits, textOf(ev.data)) // the seconds are in an element of their own
		}
	}
	if len(waits) != 2 ||
		!strings.Contains(waits[0], "busy (rate limit). Trying again in 1 s (attempt 2 of 3)") ||
		!strings.Contains(waits[1], "(attempt 3 of 3)") {
		t.Errorf("waits shown: %q", waits)
	}
	var d answerDOM
	d.apply(t, evs)
	if d.html() != rendered(answerText()) || !strings.Contains(d.final, "state-done") {
		t.Errorf("after the waits the answer is %q, final %s", d.html(), d.final)
	}
	if n := len(up.Requests()); n != 3 {
		t.Errorf("%d requests to the model service, want 3", n)
	}

	// The service stays busy: three tries, then the answer says when to
	// retry; a retry then gets the answer.
	up2 := llmtest.NewServer(t)
	slow := llmtest.Reply{Status: 429, Headers: map[string]string{"retry-after-ms": "1500"}}
	up2.Reply(slow, slow, slow, llmtest.Reply{Tokens: answerTokens})
	b2 := newBrowser(t, startApp(t, testConfig(up2, t.TempDir())))
	conv, events := b2.send("", "hello")
	evs = b2.stream(events, "", 0)
	d = answerDOM{}
	d.apply(t, evs)
	if !strings.Contains(d.final, "state-error") || !strings.Contains(textOf(d.final), "Retry in 2 s.") || !strings.Contains(d.final, "/retry") {
		t.Fatalf("final bubble after the retries ran out: %s", d.final)
	}
	resp, body := b2.post(strings.TrimSuffix(events, "/events")+"/retry", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("retry: %d %s", resp.StatusCode, body)
	}
	evs = b2.stream(reConnect.FindStringSubmatch(body)[1], "", 0)
	d = answerDOM{}
	d.apply(t, evs)
	if d.html() != rendered(answerText()) {
		t.Errorf("retried answer %q", d.html())
	}
	if _, page := b2.get("/c/" + conv); strings.Count(page, `class="msg assistant`) != 1 {
		t.Errorf("the page should hold one answer:\n%s", page)
	}
}

var reTag = regexp.MustCompile(`<[^>]*>`)

// textOf is HTML without its tags: the words a reader sees.
func textOf(html string) string { return reTag.ReplaceAllString(html, "") }
