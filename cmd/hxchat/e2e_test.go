package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/llm/llmtest"
)

var answerTokens = []string{"Hello", ", ", "<b>world</b>", "!\n", "Line ", "two & ", "three.\n", "こんにちは", "世界"}

func answerText() string { return strings.Join(answerTokens, "") }

// TestTurn: a message is stored and answered; the stream carries every token
// once, in order, each event with an id; the model got the system prompt
// and the history; the page shows the whole answer afterwards.
func TestTurn(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: answerTokens, Delay: time.Millisecond})
	m := startApp(t, testConfig(up, t.TempDir()))
	b := newBrowser(t, m)

	if code, body := b.get("/"); code != 200 || !strings.Contains(body, `hx-post="/c"`) {
		t.Fatalf("GET /: %d", code)
	}
	conv, events := b.send("", "What is <hxchat>?")
	evs := b.stream(events, "", 0)
	var d answerDOM
	d.apply(t, evs)
	if d.html() != rendered(answerText()) {
		t.Errorf("streamed %q, want %q", d.html(), rendered(answerText()))
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.id == "" || seen[ev.id] {
			t.Errorf("event %+v: missing or repeated id", ev)
		}
		seen[ev.id] = true
	}
	if last := evs[len(evs)-1]; last.name != "done" {
		t.Errorf("last event %+v, want the final event", last)
	}
	// A reader that comes after the end (a reload just then) gets the
	// final bubble and the final event, under the ids the stream gave them.
	late := b.stream(events, "", 0)
	if len(late) != 2 || late[1].name != "done" || late[0].id != evs[len(evs)-2].id || late[1].id != evs[len(evs)-1].id {
		t.Errorf("a reader after the end got %+v, want the last two events %+v", late, evs[len(evs)-2:])
	}
	if strings.Contains(d.final, "hx-sse:connect") || !strings.Contains(d.final, "state-done") {
		t.Errorf("final bubble still streams or is not done: %s", d.final)
	}

	// A second turn carries the history.
	_, events = b.send(conv, "And then?")
	b.stream(events, "", 0)
	reqs := up.Requests()
	if len(reqs) != 2 {
		t.Fatalf("upstream got %d requests, want 2", len(reqs))
	}
	var roles []string
	for _, msg := range reqs[1].Body.Messages {
		roles = append(roles, msg.Role+":"+msg.Content)
	}
	want := []string{"system:You are a test assistant.", "user:What is <hxchat>?", "assistant:" + answerText(), "user:And then?"}
	if fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Errorf("history sent\n%q\nwant\n%q", roles, want)
	}

	code, page := b.get("/c/" + conv)
	if code != 200 {
		t.Fatalf("GET /c/%s: %d", conv, code)
	}
	for _, w := range []string{"What is &lt;hxchat&gt;?", "&lt;b&gt;world&lt;/b&gt;", "こんにちは", "And then?"} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if strings.Contains(page, "hx-sse:connect") {
		t.Error("page of finished conversation opens a stream")
	}
}

// TestResume: a reader that hangs up after some events and comes back with
// Last-Event-ID gets exactly the rest; one that comes back without it gets a
// snapshot and then the rest. Either way the text is whole, once.
func TestResume(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 3})
	m := startApp(t, testConfig(up, t.TempDir()))
	b := newBrowser(t, m)
	_, events := b.send("", "resume me")

	// Three tokens pass the gate; a reader that comes now gets them as one
	// snapshot, then hangs up.
	waitFor(t, "three tokens", func() bool { return seqOf(m, answerID(events)) >= 3 })
	first := b.stream(events, "", 1)
	var d1 answerDOM
	d1.apply(t, first)
	if want := rendered(strings.Join(answerTokens[:3], "")); d1.html() != want || first[0].id != fmt.Sprintf("%d-3", answerID(events)) {
		t.Fatalf("snapshot %q (id %s), want %q", d1.html(), first[0].id, want)
	}
	// Two more tokens while it is away; then it comes back with its last id.
	gate <- struct{}{}
	gate <- struct{}{}
	waitFor(t, "two more tokens", func() bool { return seqOf(m, answerID(events)) >= 5 })
	close(gate)
	rest := b.stream(events, first[len(first)-1].id, 0)
	d1.apply(t, rest)
	if d1.html() != rendered(answerText()) {
		t.Errorf("resumed %q, want %q", d1.html(), rendered(answerText()))
	}
	ids := map[string]bool{}
	for _, ev := range append(first, rest...) {
		if ids[ev.id] && ev.name == "" {
			t.Errorf("event %s delivered twice", ev.id)
		}
		ids[ev.id] = true
	}

	// Without Last-Event-ID after the end: the final events at once.
	again := b.stream(events, "", 0)
	var d2 answerDOM
	d2.apply(t, again)
	if d2.html() != rendered(answerText()) || again[len(again)-1].name != "done" {
		t.Errorf("late reader got %q in %d events", d2.html(), len(again))
	}
}

// TestAnswerEndsInLink: a URL that is still being written is sent as text
// (a link's href would change at every token), to a reader that follows
// the stream and to one that joins in the middle of it; when the answer
// ends in it, it becomes a link before the final event, which keeps the
// text: the reader then holds what a page load shows.
func TestAnswerEndsInLink(t *testing.T) {
	tokens := []string{"The docs are at ", "https://exa", "mple.com/do", "cs/stre", "aming"}
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(llmtest.Reply{Tokens: tokens, Gate: gate, GateAfter: 3})
	m := startApp(t, testConfig(up, t.TempDir()))
	b := newBrowser(t, m)
	_, events := b.send("", "where are the docs?")

	waitFor(t, "three tokens", func() bool { return seqOf(m, answerID(events)) >= 3 })
	first := b.stream(events, "", 1)
	var late answerDOM
	late.apply(t, first)
	if got := late.html(); strings.Contains(got, "<a ") || !strings.Contains(got, "https://example.com/do") {
		t.Fatalf("a reader joining mid-URL holds %q, want the URL as text", got)
	}
	close(gate)
	rest := b.stream(events, first[len(first)-1].id, 0)
	text := strings.Join(tokens, "")
	late.apply(t, rest)
	if got, want := late.html(), rendered(text); got != want {
		t.Errorf("the reader that joined holds %q, want %q", got, want)
	}
	// The link is sent once: by the event that finishes the text, before
	// the final one (whose article keeps the text, hx-preserve).
	var links []string
	for _, ev := range rest {
		if strings.Contains(ev.data, "<a ") && !strings.Contains(ev.data, "hx-preserve") {
			links = append(links, ev.id)
		}
	}
	if len(links) != 1 {
		t.Errorf("the link is sent in events %v, want one", links)
	}
}

// TestPrivacy: another session gets 404 for the conversation, its stream and
// every action, and a cookie the server did not issue is replaced.
func TestPrivacy(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: answerTokens})
	m := startApp(t, testConfig(up, t.TempDir()))
	owner, other := newBrowser(t, m), newBrowser(t, m)
	conv, events := owner.send("", "secret question")
	owner.stream(events, "", 0)
	other.send("", "my own question") // other has a session of its own

	mid := fmt.Sprint(answerID(events))
	for _, path := range []string{"/c/" + conv, events} {
		if code, body := other.get(path); code != 404 || strings.Contains(body, "secret") {
			t.Errorf("GET %s by another session: %d", path, code)
		}
	}
	for _, path := range []string{"/c/" + conv + "/messages", "/c/" + conv + "/m/" + mid + "/stop", "/c/" + conv + "/m/" + mid + "/retry"} {
		if resp, body := other.post(path, url.Values{"message": {"hi"}}); resp.StatusCode != 404 || strings.Contains(body, "secret") {
			t.Errorf("POST %s by another session: %d", path, resp.StatusCode)
		}
	}
	if code, _ := other.get("/c/not-an-id"); code != 404 {
		t.Errorf("malformed id: %d", code)
	}

	forged := "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	req, _ := http.NewRequest("POST", owner.base+"/c", strings.NewReader("message=hi"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "hxchat_session", Value: forged})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var issued string
	for _, c := range resp.Cookies() {
		if c.Name == "hxchat_session" {
			issued = c.Value
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Lax", c)
			}
		}
	}
	if issued == "" || issued == forged || len(issued) != 26 {
		t.Errorf("forged cookie: issued %q", issued)
	}
}

// TestStopAndRetry: Stop keeps the partial answer, marked stopped; Retry
// generates it again.
func TestStopAndRetry(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	up.Reply(llmtest.Reply{Tokens: answerTokens, Gate: gate, GateAfter: 2}, llmtest.Reply{Tokens: answerTokens})
	m := startApp(t, testConfig(up, t.TempDir()))
	b := newBrowser(t, m)
	conv, events := b.send("", "stop me")
	waitFor(t, "two tokens", func() bool { return seqOf(m, answerID(events)) >= 2 })
	base := strings.TrimSuffix(events, "/events")
	if resp, _ := b.post(base+"/stop", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("stop: %d", resp.StatusCode)
	}
	evs := b.stream(events, "", 0)
	var d answerDOM
	d.apply(t, evs)
	if d.html() != rendered("Hello, ") || !strings.Contains(d.final, "Stopped.") || !strings.Contains(d.final, "/retry") {
		t.Fatalf("after stop: %q, final %s", d.html(), d.final)
	}
	resp, body := b.post(base+"/retry", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("retry: %d %s", resp.StatusCode, body)
	}
	next := reConnect.FindStringSubmatch(body)
	if next == nil {
		t.Fatalf("retry answer does not stream: %s", body)
	}
	var d2 answerDOM
	d2.apply(t, b.stream(next[1], "", 0))
	if d2.html() != rendered(answerText()) {
		t.Errorf("retried %q", d2.html())
	}
	_, page := b.get("/c/" + conv)
	if strings.Count(page, `class="msg assistant`) != 1 || strings.Contains(page, "Stopped.") {
		t.Errorf("after retry the page should hold one finished answer:\n%s", page)
	}
}

// TestUpstreamErrors: every way the model's API fails ends the answer with
// a message the user understands, keeps the partial text, and closes the
// stream with its final event. Retry is offered where asking again can
// help; where only an administrator can, the answer shows the request id.
func TestUpstreamErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply llmtest.Reply
		text  string // the partial text kept
		says  string // in the final bubble
	}{
		{"unauthorized", llmtest.Reply{Status: 401}, "", "API key"},
		{"not found", llmtest.Reply{Status: 404}, "", "settings"},
		{"rate limited", llmtest.Reply{Status: 429, Headers: map[string]string{"Retry-After": "0"}}, "", "rate limit"},
		{"server error", llmtest.Reply{Status: 500}, "", "Retry"},
		{"bad gateway", llmtest.Reply{Status: 502, ErrorBody: "<html>Bad Gateway</html>"}, "", "Retry"},
		{"unavailable", llmtest.Reply{Status: 503}, "", "Retry"},
		{"reset before the first byte", llmtest.Reply{Reset: true}, "", "could not be completed"},
		{"reset mid-stream", llmtest.Reply{Tokens: answerTokens, DropAfter: 2, Reset: true}, "Hello, ", "could not be completed"},
		{"stall", llmtest.Reply{Tokens: answerTokens[:2], Stall: true}, "Hello, ", "stopped responding"},
		{"malformed chunk", llmtest.Reply{Tokens: answerTokens[:2], Malformed: true}, "Hello, ", "could not be completed"},
		{"prompt filtered (Azure 400)", llmtest.Reply{Status: 400, ErrorBody: llmtest.AzurePromptFilteredBody}, "", "content filter refused this message"},
		{"dropped", llmtest.Reply{Tokens: answerTokens, DropAfter: 2}, "Hello, ", "could not be completed"},
		{"no finish", llmtest.Reply{Tokens: []string{"cut"}, NoFinish: true, NoDone: true}, "cut", "could not be completed"},
		{"filtered reply", llmtest.Reply{Tokens: []string{"partial"}, FinishReason: "content_filter"}, "partial", "content filter"},
	}
	noRetry := map[string]bool{"unauthorized": true, "not found": true, "prompt filtered (Azure 400)": true}
	askAdmin := map[string]bool{"unauthorized": true, "not found": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := llmtest.NewServer(t)
			up.Reply(tt.reply)
			cfg := testConfig(up, t.TempDir())
			cfg.IdleTimeout = time.Second // for the stall
			b := newBrowser(t, startApp(t, cfg))
			_, events := b.send("", "fail please")
			evs := b.stream(events, "", 0)
			var d answerDOM
			d.apply(t, evs)
			if d.html() != rendered(tt.text) {
				t.Errorf("kept %q, want %q", d.html(), rendered(tt.text))
			}
			if !strings.Contains(d.final, "state-error") || !strings.Contains(d.final, tt.says) {
				t.Errorf("final bubble lacks error state or %q: %s", tt.says, d.final)
			}
			if got := strings.Contains(d.final, "/retry"); got == noRetry[tt.name] {
				t.Errorf("final bubble offers Retry: %v, want %v: %s", got, !got, d.final)
			}
			if got := strings.Contains(d.final, `class="status request-id"`); got != askAdmin[tt.name] {
				t.Errorf("final bubble shows a request id: %v, want %v: %s", got, !got, d.final)
			}
			if strings.Contains(d.final, "sk-test-key") {
				t.Error("key in the page")
			}
		})
	}
}

// TestDemoModel: with no model configured the app runs on the demo model and
// says so.
func TestDemoModel(t *testing.T) {
	cfg := testConfig(llmtest.NewServer(t), t.TempDir())
	cfg.OpenAI.APIKey, cfg.OpenAI.BaseURL, cfg.OpenAI.Model = "", "", ""
	cfg.DemoRate = 0
	m := startApp(t, cfg)
	b := newBrowser(t, m)
	if _, body := b.get("/"); !strings.Contains(body, "Offline demo model") || !strings.Contains(body, "AZURE_OPENAI_ENDPOINT") {
		t.Error("demo banner missing")
	}
	_, events := b.send("", "日本語で説明して")
	var d answerDOM
	d.apply(t, b.stream(events, "", 0))
	if !strings.Contains(d.html(), `<pre class="chroma">`) || !strings.Contains(d.final, "state-done") {
		t.Errorf("demo answer: %q", d.html())
	}
}

// seqOf returns the position of answer id's live stream, or -1.
func seqOf(m *Main, id int64) int64 {
	st, ok := m.hub.Get(id)
	if !ok {
		return -1
	}
	return st.Snapshot().Seq
}

// answerID returns the answer's id from its events URL /c/{c}/m/{id}/events.
func answerID(events string) int64 {
	var id int64
	fmt.Sscan(events[strings.Index(events, "/m/")+3:strings.LastIndex(events, "/")], &id)
	return id
}

// TestAzure: the seed's Azure settings reach Azure's wire format (deployment
// path, api-version, api-key header; the first chunk with no choices), and
// Azure's prompt filter (HTTP 400, content_filter) is explained to the user.
func TestAzure(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: answerTokens}, llmtest.Reply{Status: 400, ErrorBody: llmtest.AzurePromptFilteredBody})
	cfg := testConfig(up, t.TempDir())
	cfg.OpenAI = config.OpenAI{}
	cfg.Azure = config.Azure{Endpoint: up.URL, APIKey: "azure-secret-key", APIVersion: "2024-10-21", Deployment: "gpt-4o-team"}
	m := startApp(t, cfg)
	b := newBrowser(t, m)
	if _, page := b.get("/"); !strings.Contains(page, "Azure OpenAI · gpt-4o-team") || strings.Contains(page, "Offline demo") {
		t.Error("page does not name the Azure deployment")
	}
	conv, events := b.send("", "hello azure")
	var d answerDOM
	d.apply(t, b.stream(events, "", 0))
	if d.html() != rendered(answerText()) {
		t.Errorf("text %q", d.html())
	}
	req := up.Requests()[0]
	if req.Path != "/openai/deployments/gpt-4o-team/chat/completions" || req.Query.Get("api-version") != "2024-10-21" ||
		req.Header.Get("Api-Key") != "azure-secret-key" || req.Header.Get("Authorization") != "" {
		t.Errorf("request %s ?%s api-key %q", req.Path, req.Query.Encode(), req.Header.Get("Api-Key"))
	}

	_, events = b.send(conv, "something the filter refuses")
	var f answerDOM
	f.apply(t, b.stream(events, "", 0))
	if !strings.Contains(f.final, "content filter refused this message") || strings.Contains(f.final, "azure-secret-key") {
		t.Errorf("filtered prompt: %s", f.final)
	}
}

// TestExport: a conversation downloads as Markdown and as JSON; only by its
// owner.
func TestExport(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: answerTokens})
	m := startApp(t, testConfig(up, t.TempDir()))
	b := newBrowser(t, m)
	conv, events := b.send("", "東京の天気は？ export me")
	b.stream(events, "", 0)

	resp, err := b.c.Get(b.base + "/c/" + conv + "/export/md")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "export-me.md") {
		t.Errorf("Content-Disposition %q", cd)
	}
	for _, want := range []string{"# 東京の天気は？ export me", "## User", "## Assistant (gpt-test)", answerText()} {
		if !strings.Contains(string(md), want) {
			t.Errorf("Markdown export lacks %q:\n%s", want, md)
		}
	}
	resp, err = b.c.Get(b.base + "/c/" + conv + "/export/json")
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Title    string
		Messages []struct{ Role, Content, State string }
	}
	err = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if err != nil || e.Title != "東京の天気は？ export me" || len(e.Messages) != 2 || e.Messages[1].Content != answerText() || e.Messages[1].State != "done" {
		t.Errorf("JSON export %+v (%v)", e, err)
	}
	other := newBrowser(t, m)
	for _, f := range []string{"md", "json"} {
		if code, _ := other.get("/c/" + conv + "/export/" + f); code != 404 {
			t.Errorf("another session's export %s: %d", f, code)
		}
	}
	if code, _ := b.get("/c/" + conv + "/export/exe"); code != 404 {
		t.Errorf("unknown format: %d", code)
	}
}

// TestConversationSettings: a new conversation starts with the configured
// system prompt and the model picked in the message box; its settings can be
// changed, apply to the next answers, and belong to their owner only.
func TestConversationSettings(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: []string{"ok"}})
	cfg := testConfig(up, t.TempDir())
	cfg.Models = []string{"gpt-test", "gpt-other"}
	m := startApp(t, cfg)
	b := newBrowser(t, m)
	if _, page := b.get("/"); !strings.Contains(page, `<select name="model"><option>gpt-test</option><option>gpt-other</option></select>`) {
		t.Error("the new chat offers no model to pick")
	}
	resp, body := b.post("/c", url.Values{"message": {"hello"}, "model": {"gpt-other"}})
	if resp.StatusCode != 200 {
		t.Fatalf("POST /c: %d", resp.StatusCode)
	}
	conv := strings.TrimPrefix(resp.Header.Get("HX-Push-Url"), "/c/")
	b.stream(html.UnescapeString(reConnect.FindStringSubmatch(body)[1]), "", 0)
	last := func() llmtest.Request { r := up.Requests(); return r[len(r)-1] }
	if r := last(); r.Body.Model != "gpt-other" || r.Body.Messages[0].Content != "You are a test assistant." {
		t.Errorf("first answer: model %q, system %q", r.Body.Model, r.Body.Messages[0].Content)
	}

	if resp, _ := b.post("/c/"+conv+"/settings", url.Values{"system_prompt": {"五七五で答えて。\nAlways."}, "model": {"gpt-test"}}); resp.StatusCode != 200 {
		t.Fatalf("settings: %d", resp.StatusCode)
	}
	_, events := b.send(conv, "again")
	b.stream(events, "", 0)
	if r := last(); r.Body.Model != "gpt-test" || r.Body.Messages[0].Content != "五七五で答えて。\nAlways." {
		t.Errorf("after the settings: model %q, system %q", r.Body.Model, r.Body.Messages[0].Content)
	}
	if _, page := b.get("/c/" + conv); !strings.Contains(page, "五七五で答えて。") || !strings.Contains(page, "<option selected>gpt-test</option>") {
		t.Error("the page does not show the conversation's settings")
	}
	// A model that is not configured falls back to the default.
	b.post("/c/"+conv+"/settings", url.Values{"system_prompt": {""}, "model": {"https://evil.example/"}})
	_, events = b.send(conv, "third")
	b.stream(events, "", 0)
	if r := last(); r.Body.Model != "gpt-test" || r.Body.Messages[0].Role != "user" {
		t.Errorf("unknown model or empty prompt: model %q, first message %s", r.Body.Model, r.Body.Messages[0].Role)
	}
	if resp, _ := newBrowser(t, m).post("/c/"+conv+"/settings", url.Values{"system_prompt": {"x"}}); resp.StatusCode != 404 {
		t.Errorf("another session's settings: %d", resp.StatusCode)
	}
}

// TestAnswerLimits: over the limit of answers running at once a message is
// refused with 429 and a reason, and nothing of it is stored; other
// sessions are not affected.
func TestAnswerLimits(t *testing.T) {
	up := llmtest.NewServer(t)
	gate := make(chan struct{})
	defer close(gate)
	up.Reply(llmtest.Reply{Tokens: []string{"a", "b"}, Gate: gate, GateAfter: 1})
	cfg := testConfig(up, t.TempDir())
	cfg.MaxAnswersPerSession = 1
	m := startApp(t, cfg)
	b := newBrowser(t, m)
	b.send("", "first")
	resp, body := b.post("/c", url.Values{"message": {"second, too soon"}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many answers") || resp.Header.Get("HX-Retarget") != "#alert" {
		t.Errorf("over the limit: %d %q", resp.StatusCode, body)
	}
	if _, page := b.get("/"); strings.Contains(page, "second, too soon") {
		t.Error("the refused message was stored")
	}
	if resp, _ := newBrowser(t, m).post("/c", url.Values{"message": {"someone else"}}); resp.StatusCode != 200 {
		t.Errorf("another session: %d", resp.StatusCode)
	}
}

// TestMessageSizeSetting: -max-message-kib sets the longest message; a longer
// one is refused with 413 and a message that gives the limit, and nothing is
// stored.
func TestMessageSizeSetting(t *testing.T) {
	up := llmtest.NewServer(t)
	cfg := testConfig(up, t.TempDir())
	cfg.MaxMessageBytes = 4 << 10
	b := newBrowser(t, startApp(t, cfg))
	resp, body := b.post("/c", url.Values{"message": {strings.Repeat("x", 4<<10+1)}})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "at most about 4,000 characters") {
		t.Errorf("4 KiB + 1: %d %s", resp.StatusCode, body)
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("%d requests to the model service", n)
	}
	if resp, body := b.post("/c", url.Values{"message": {strings.Repeat("x", 4<<10)}}); resp.StatusCode != http.StatusOK {
		t.Errorf("4 KiB: %d %s", resp.StatusCode, body)
	}
}

// TestErrorsSayWhatHappened: a conversation too long for the model, a spent
// quota and a refused key each end the answer with words of their own, in
// English and in Japanese, and the question stays.
func TestErrorsSayWhatHappened(t *testing.T) {
	tooLong := llmtest.Reply{Status: 400, ErrorBody: `{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`}
	quota := llmtest.Reply{Status: 429, ErrorBody: `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","code":"insufficient_quota"}}`}
	refused := llmtest.Reply{Status: 401, ErrorBody: `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}`}
	for _, lang := range []string{"en", "ja"} {
		up := llmtest.NewServer(t)
		up.Reply(tooLong, quota, refused)
		m := startApp(t, testConfig(up, t.TempDir()))
		b := newBrowser(t, m)
		u, _ := url.Parse(b.base)
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "hxchat_lang", Value: lang}})
		conv := ""
		for _, c := range []struct{ question, en, ja string }{
			{"a very long conversation", "Start a new chat", "新しいチャットを始める"},
			{"when the quota is spent", "quota is used up", "利用枠を使い切った"},
			{"with a refused key", "refused hxchat", "認証情報"},
		} {
			var events string
			conv, events = b.send(conv, c.question)
			var d answerDOM
			d.apply(t, b.stream(events, "", 0))
			want := c.en
			if lang == "ja" {
				want = c.ja
			}
			if !strings.Contains(d.final, want) || !strings.Contains(d.final, "state-error") {
				t.Errorf("%s, %s: the answer says %s", lang, c.question, d.final)
			}
			if _, page := b.get("/c/" + conv); !strings.Contains(page, c.question) || !strings.Contains(page, want) {
				t.Errorf("%s, %s: after a reload the page lacks the question or the words", lang, c.question)
			}
		}
	}
}
