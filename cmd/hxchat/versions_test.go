package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat/llm/llmtest"
)

var (
	reArticle = regexp.MustCompile(`<article id="m(\d+)" class="msg (user|assistant)`)
	reVersion = regexp.MustCompile(`class="version-count">(\d+/\d+)<`)
)

// said scripts one answer of the fake model.
func said(text string) llmtest.Reply { return llmtest.Reply{Tokens: strings.SplitAfter(text, " ")} }

// sentTo returns what the model was sent in request i: "role:content"
// joined with "|".
func sentTo(up *llmtest.Server, i int) string {
	reqs := up.Requests()
	if i >= len(reqs) {
		return "(no request)"
	}
	var parts []string
	for _, m := range reqs[i].Body.Messages {
		parts = append(parts, m.Role+":"+m.Content)
	}
	return strings.Join(parts, "|")
}

// branchShown returns the contents of the branch the conversation shows,
// as its JSON export writes them, joined with "|".
func (b *browser) branchShown(conv string) string {
	b.t.Helper()
	code, body := b.get("/c/" + conv + "/export/json")
	var e struct{ Messages []struct{ Content string } }
	if err := json.Unmarshal([]byte(body), &e); code != 200 || err != nil {
		b.t.Fatalf("export: %d %v", code, err)
	}
	var parts []string
	for _, m := range e.Messages {
		parts = append(parts, m.Content)
	}
	return strings.Join(parts, "|")
}

// articles returns the ids of the messages in html, and the versions
// ("n/m") it shows.
func articles(html string) (ids []string, versions []string) {
	for _, m := range reArticle.FindAllStringSubmatch(html, -1) {
		ids = append(ids, m[1])
	}
	for _, m := range reVersion.FindAllStringSubmatch(html, -1) {
		versions = append(versions, m[1])
	}
	return ids, versions
}

// TestVersions: an edited question and a regenerated answer are new
// versions; the old ones stay, with what followed them, and can be shown
// again; the model gets the branch shown, exactly; a reload and the export
// show the branch last chosen; stop, retry and a stream's resumption work
// on a branch; nobody else can choose a branch.
func TestVersions(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(said("a1"), said("a2"), said("a3"), said("a1 edited"),
		llmtest.Reply{Tokens: []string{"a4", " cut"}, Gate: gate, GateAfter: 1}, said("a4 again"),
		llmtest.Reply{Tokens: []string{"a2 ", "regen", "erated"}, Delay: 30 * time.Millisecond}, said("last"))
	m := startApp(t, testConfig(up, t.TempDir()))
	b := newBrowser(t, m)
	const sys = "system:You are a test assistant."
	post := func(path string, form url.Values) string {
		t.Helper()
		resp, body := b.post(path, form)
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
		}
		return body
	}
	follow := func(body string) string {
		t.Helper()
		c := reConnect.FindStringSubmatch(body)
		if c == nil && strings.Contains(body, `class="msg assistant state-done"`) {
			return "" // the fake model was done before the page was written
		}
		if c == nil {
			t.Fatalf("no answer streams in %s", body)
		}
		b.stream(c[1], "", 0)
		return c[1]
	}

	conv, ev := b.send("", "q1")
	b.stream(ev, "", 0)
	for _, q := range []string{"q2", "q3"} {
		_, ev = b.send(conv, q)
		b.stream(ev, "", 0)
	}
	_, page := b.get("/c/" + conv)
	ids, vs := articles(page)
	if len(ids) != 6 || len(vs) != 0 {
		t.Fatalf("three turns: messages %v, versions %v", ids, vs)
	}
	u1, a2 := ids[0], ids[3]

	// Edit the first question: the model gets it alone; the page shows
	// the new branch, the question as version 2 of 2.
	body := post("/c/"+conv+"/m/"+u1+"/edit", url.Values{"message": {"q1 edited"}})
	follow(body)
	if got := sentTo(up, 3); got != sys+"|user:q1 edited" {
		t.Errorf("after the edit the model got %q", got)
	}
	if _, vs := articles(body); strings.Join(vs, ",") != "2/2" {
		t.Errorf("edit's log shows versions %v, want 2/2", vs)
	}
	if got := b.branchShown(conv); got != "q1 edited|a1 edited" {
		t.Errorf("branch after the edit: %q", got)
	}

	// Back to version 1: the three turns, and a reload keeps them.
	body = post("/c/"+conv+"/m/"+u1+"/show", nil)
	if ids, vs := articles(body); len(ids) != 6 || strings.Join(vs, ",") != "1/2" {
		t.Errorf("version 1 shows messages %v, versions %v", ids, vs)
	}
	if !strings.Contains(body, `aria-label="Previous version"`) || !strings.Contains(body, `aria-label="Next version"`) {
		t.Errorf("version buttons lack their labels: %s", body)
	}
	// An edit's Cancel shows the question again with its versions.
	if _, one := b.get("/c/" + conv + "/m/" + u1); !strings.Contains(one, `class="version-count">1/2<`) {
		t.Errorf("the question after Cancel lacks its versions: %s", one)
	}
	_, page = b.get("/c/" + conv)
	if ids, vs := articles(page); len(ids) != 6 || strings.Join(vs, ",") != "1/2" {
		t.Errorf("reload after choosing version 1: messages %v, versions %v", ids, vs)
	}
	if got := b.branchShown(conv); got != "q1|a1|q2|a2|q3|a3" {
		t.Errorf("export after choosing version 1: %q", got)
	}
	code, md := b.get("/c/" + conv + "/export/md")
	if code != 200 || !strings.Contains(md, "a3") || strings.Contains(md, "edited") {
		t.Errorf("Markdown export after choosing version 1: %d\n%s", code, md)
	}

	// A question on that branch: the model gets the whole branch. Stopped,
	// then retried (the last answer: its bubble is replaced), on the branch.
	_, ev = b.send(conv, "q4")
	waitFor(t, "the first token", func() bool { return seqOf(m, answerID(ev)) >= 1 })
	if got, want := sentTo(up, 4), sys+"|user:q1|assistant:a1|user:q2|assistant:a2|user:q3|assistant:a3|user:q4"; got != want {
		t.Errorf("a question on the old branch: the model got\n%q, want\n%q", got, want)
	}
	stopped := strings.TrimSuffix(ev, "/events")
	if resp, _ := b.post(stopped+"/stop", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("stop: %d", resp.StatusCode)
	}
	close(gate)
	var d answerDOM
	d.apply(t, b.stream(ev, "", 0))
	if !strings.Contains(d.final, "state-stopped") {
		t.Fatalf("stopped answer: %s", d.final)
	}
	body = post(stopped+"/retry", nil)
	if strings.Contains(body, `<article id="m`+u1+`"`) || strings.Count(body, "<article") != 1 {
		t.Errorf("retry of the last answer answers more than its bubble: %s", body)
	}
	ev = follow(body)
	if got, want := sentTo(up, 5), sentTo(up, 4); got != want {
		t.Errorf("retry: the model got\n%q, want\n%q", got, want)
	}
	if got := b.branchShown(conv); got != "q1|a1|q2|a2|q3|a3|q4|a4 again" {
		t.Errorf("branch after the retry: %q", got)
	}
	_, page = b.get("/c/" + conv)
	if _, vs := articles(page); strings.Join(vs, ",") != "1/2,2/2" {
		t.Errorf("after the retry the page shows versions %v, want 1/2 (first question), 2/2 (retried answer)", vs)
	}

	// Regenerate the second answer, which is not the last: the log shows
	// the new branch (the answer's versions once it ends); its stream
	// resumes after a reconnect.
	body = post("/c/"+conv+"/m/"+a2+"/retry", nil)
	if ids, vs := articles(body); len(ids) != 4 || strings.Join(vs, ",") != "1/2" {
		t.Errorf("regenerating an earlier answer shows messages %v, versions %v", ids, vs)
	}
	c := reConnect.FindStringSubmatch(body)
	if c == nil {
		t.Fatalf("regenerated answer does not stream: %s", body)
	}
	first := b.stream(c[1], "", 2)
	rest := b.stream(c[1], first[len(first)-1].id, 0)
	var d2 answerDOM
	d2.apply(t, append(first, rest...))
	if d2.html() != rendered("a2 regenerated") {
		t.Errorf("regenerated answer after a reconnect: %q", d2.html())
	}
	if _, vs := articles(d2.final); strings.Join(vs, ",") != "2/2" {
		t.Errorf("regenerated answer's final event shows versions %v, want 2/2", vs)
	}
	if got := sentTo(up, 6); got != sys+"|user:q1|assistant:a1|user:q2" {
		t.Errorf("regenerate: the model got %q", got)
	}
	if got := b.branchShown(conv); got != "q1|a1|q2|a2 regenerated" {
		t.Errorf("branch after regenerating: %q", got)
	}
	// The old answer brings back all that followed it.
	body = post("/c/"+conv+"/m/"+a2+"/show", nil)
	if got := b.branchShown(conv); got != "q1|a1|q2|a2|q3|a3|q4|a4 again" {
		t.Errorf("branch of the old answer: %q", got)
	}
	if _, vs := articles(body); strings.Join(vs, ",") != "1/2,1/2,2/2" {
		t.Errorf("old answer's branch shows versions %v", vs)
	}

	// Nobody else chooses a branch; only messages of the conversation.
	other := newBrowser(t, m)
	if resp, _ := other.post("/c/"+conv+"/m/"+u1+"/show", nil); resp.StatusCode != 404 {
		t.Errorf("another session's show: %d", resp.StatusCode)
	}
	conv2, ev2 := b.send("", "elsewhere")
	b.stream(ev2, "", 0)
	for _, path := range []string{"/c/" + conv2 + "/m/" + u1 + "/show", "/c/" + conv + "/m/999999/show", "/c/" + conv + "/m/x/show"} {
		if resp, _ := b.post(path, nil); resp.StatusCode != 404 {
			t.Errorf("POST %s: %d, want 404", path, resp.StatusCode)
		}
	}
	if got := b.branchShown(conv); got != "q1|a1|q2|a2|q3|a3|q4|a4 again" {
		t.Errorf("refused choices changed the branch: %q", got)
	}
}
