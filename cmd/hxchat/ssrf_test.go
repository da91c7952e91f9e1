package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// TestNoSSRF: the model service's address comes only from the server's
// configuration. Form fields, query parameters and headers that name another
// host, a model or deployment that is not configured, or a base URL, never
// make hxchat send a request anywhere else: every request goes to the
// configured service, for a configured model.
func TestNoSSRF(t *testing.T) {
	var stolen atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer evil.Close()
	evilHost := strings.TrimPrefix(evil.URL, "http://")

	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: []string{"ok"}})
	cfg := testConfig(up, t.TempDir())
	cfg.Models = []string{"gpt-test", "gpt-other"}
	m := startApp(t, cfg)
	b := newBrowser(t, m)

	hostile := []string{evil.URL, evil.URL + "/v1", "//" + evilHost, evilHost, "http://169.254.169.254/latest/meta-data/",
		"gpt-test@" + evilHost, "../../" + evilHost, "gpt-test\r\nHost: " + evilHost}
	fields := []string{"model", "base_url", "baseURL", "endpoint", "url", "api_base", "azure_endpoint", "deployment", "api-version"}
	sent := 0
	for _, v := range hostile {
		form := url.Values{"message": {"hello"}}
		for _, f := range fields {
			form.Set(f, v)
		}
		q := url.Values{}
		for _, f := range fields {
			q.Set(f, v)
		}
		req, _ := http.NewRequest("POST", b.base+"/c?"+q.Encode(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		req.Header.Set("Origin", b.base)
		for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Server", "X-Original-URL", "X-Rewrite-URL", "Forwarded", "X-Host", "X-Model-Endpoint"} {
			req.Header.Set(h, evilHost)
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(raw)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST with %q: %d %s", v, resp.StatusCode, body)
		}
		m := reConnect.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no stream in %s", body)
		}
		b.stream(strings.ReplaceAll(m[1], "&amp;", "&"), "", 0)
		sent++

		// The conversation's settings: a model that is not configured.
		conv := strings.TrimPrefix(resp.Header.Get("HX-Push-Url"), "/c/")
		if resp, body := b.post("/c/"+conv+"/settings", url.Values{"model": {v}, "system_prompt": {"x"}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("settings with %q: %d %s", v, resp.StatusCode, body)
		}
		_, events := b.send(conv, "again")
		b.stream(events, "", 0)
		sent++
	}

	if n := stolen.Load(); n != 0 {
		t.Fatalf("%d requests reached another host", n)
	}
	reqs := up.Requests()
	if len(reqs) != sent {
		t.Fatalf("%d requests to the model service for %d answers", len(reqs), sent)
	}
	for _, r := range reqs {
		if r.Path != "/v1/chat/completions" || r.Body.Model != "gpt-test" {
			t.Errorf("request to %s for model %q", r.Path, r.Body.Model)
		}
	}
}
