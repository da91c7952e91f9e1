package main

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// secondsIn returns the number in text that re's first group matches, or -1.
func secondsIn(re *regexp.Regexp, text string) int {
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestBrowserRetryCountdown: the waits of a busy model service count down
// in the page, and a reload says the same words with what is left of the
// wait: while hxchat asks again, and once the answer failed ("Retry in
// N s."), from the deadline stored with it. At 0 the answer says that it
// can be retried now, with Retry, also after a reload.
func TestBrowserRetryCountdown(t *testing.T) {
	busy := func(ms string) llmtest.Reply {
		return llmtest.Reply{Status: 429, Headers: map[string]string{"retry-after-ms": ms}}
	}
	up := llmtest.NewServer(t)
	// Long waits, so that a reload on a busy machine still falls within them.
	up.Reply(busy("6000"), busy("300"), busy("5000"))
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)
	sendFromNewChat(t, ctx, m, "busy?")

	reWait := regexp.MustCompile(`Trying again in (\d+) s \(attempt 2 of 3\)`)
	waitText(t, ctx, ".msg.assistant .waiting", "the wait", func(s string) bool { return secondsIn(reWait, s) == 6 })
	waitText(t, ctx, ".msg.assistant .waiting", "the wait counting down", func(s string) bool {
		n := secondsIn(reWait, s)
		return n > 0 && n < 6
	})
	waitFor(t, "the page's address", func() bool { return eval[string](t, ctx, `location.pathname`) != "/" })
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	if s := waitText(t, ctx, ".msg.assistant .waiting", "the wait after a reload", func(s string) bool { return s != "" }); secondsIn(reWait, s) < 1 || secondsIn(reWait, s) > 5 {
		t.Errorf("after a reload the wait says %q", s)
	}

	// The retries ran out: "Retry in 5 s.", counting down, also after a reload.
	reRetry := regexp.MustCompile(`busy \(rate limit\)\. Retry in (\d+) s\.`)
	status := ".msg.assistant.state-error .status"
	first := secondsIn(reRetry, waitText(t, ctx, status, "the failed answer", func(s string) bool { n := secondsIn(reRetry, s); return n >= 4 && n <= 5 }))
	waitText(t, ctx, status, "its countdown", func(s string) bool { n := secondsIn(reRetry, s); return n > 0 && n < first })
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	if s := waitText(t, ctx, status, "the failed answer after a reload", func(s string) bool { return s != "" }); secondsIn(reRetry, s) < 1 || secondsIn(reRetry, s) >= first {
		t.Errorf("after a reload the failed answer says %q", s)
	}
	waitText(t, ctx, status, "the end of the wait", func(s string) bool { return s == "The model service was busy (rate limit). You can retry now." })
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	waitText(t, ctx, status, "the end of the wait after a reload", func(s string) bool { return s == "The model service was busy (rate limit). You can retry now." })
	if n := eval[int](t, ctx, `document.querySelectorAll('.msg.assistant .retry').length`); n != 1 {
		t.Errorf("%d Retry buttons on a rate-limited answer, want 1", n)
	}
	log.problems = filterProblems(log.problems, "429")
	log.check(t)
}

// TestBrowserRefusedKey: when the model service refuses hxchat's key (401),
// the answer offers no Retry (it cannot help); it says to ask the
// administrator of hxchat and shows the id of the request that sent the
// message, which the log has, in both languages and after a reload.
func TestBrowserRefusedKey(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Status: 401})
	m := startApp(t, testConfig(up, t.TempDir()))
	ctx, log := chrome(t)

	// The X-Request-Id of the message's POST.
	var mu sync.Mutex
	posts := map[network.RequestID]bool{}
	var sent string
	chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if ev.Request.Method == "POST" && strings.HasSuffix(ev.Request.URL, "/c") {
				posts[ev.RequestID] = true
			}
		case *network.EventResponseReceived:
			if posts[ev.RequestID] {
				if v, ok := ev.Response.Headers["X-Request-Id"].(string); ok {
					sent = v
				}
			}
		}
	})
	sendFromNewChat(t, ctx, m, "hello?")
	status := ".msg.assistant.state-error .status"
	waitText(t, ctx, status, "the failure", func(s string) bool { return strings.Contains(s, "Ask the administrator of hxchat") })
	check := func(lang string) {
		t.Helper()
		if n := eval[int](t, ctx, `document.querySelectorAll('.msg.assistant .retry').length`); n != 0 {
			t.Errorf("%s: a refused key offers Retry", lang)
		}
		id := eval[string](t, ctx, `(e => e ? e.textContent : '')(document.querySelector('.msg.assistant .request-id code'))`)
		mu.Lock()
		want := sent
		mu.Unlock()
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) || id != want {
			t.Errorf("%s: request id shown %q, the message's request had %q", lang, id, want)
		}
	}
	check("en")
	do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("message")))
	waitText(t, ctx, status, "the failure after a reload", func(s string) bool { return strings.Contains(s, "Ask the administrator of hxchat") })
	check("en, after a reload")
	eval[bool](t, ctx, `document.querySelector('.lang button').click(), true`)
	waitFor(t, "the Japanese page", func() bool {
		lang, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
		return lang == "ja"
	})
	waitText(t, ctx, status, "the failure in Japanese", func(s string) bool {
		return strings.Contains(s, "hxchat の管理者に確認を依頼してください")
	})
	waitText(t, ctx, ".msg.assistant .request-id", "the request id in Japanese", func(s string) bool { return strings.HasPrefix(s, "管理者に伝えるリクエスト ID") })
	check("ja")
	log.check(t)
}
