package llm

import (
	"context"
	"testing"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/llm/llmtest"
)

func TestOpenAIRequestAndAnswer(t *testing.T) {
	s := llmtest.NewServer(t)
	s.Reply(llmtest.Reply{Tokens: []string{"Go", " is", " fun."}})
	p := newOpenAI(t, s, nil)

	r := collect(t, context.Background(), p, question)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.text != "Go is fun." || r.finish != "stop" {
		t.Errorf("text %q finish %q", r.text, r.finish)
	}
	if want := (hxchat.Usage{PromptTokens: questionWords, CompletionTokens: 3}); r.usage == nil || *r.usage != want {
		t.Errorf("usage %v, want %v", r.usage, want)
	}
	rq := s.Requests()[0]
	if rq.Path != "/v1/chat/completions" || len(rq.Query) != 0 {
		t.Errorf("path %s query %v", rq.Path, rq.Query)
	}
	if got := rq.Header.Get("Authorization"); got != "Bearer "+testKey || rq.Header.Get("Api-Key") != "" {
		t.Errorf("Authorization %q Api-Key %q", got, rq.Header.Get("Api-Key"))
	}
	checkBody(t, rq.Body, "gpt-4o-mini")
}

// TestOpenAIIgnoresEnvironment: the SDK's OPENAI_* defaults must not send
// the environment's key, organization or headers, nor pick its base URL.
func TestOpenAIIgnoresEnvironment(t *testing.T) {
	other := llmtest.NewServer(t)
	t.Setenv("OPENAI_API_KEY", "sk-from-the-environment")
	t.Setenv("OPENAI_BASE_URL", other.OpenAIBaseURL())
	t.Setenv("OPENAI_ORG_ID", "org-env")
	t.Setenv("OPENAI_PROJECT_ID", "proj-env")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-From-Env: yes")

	for _, key := range []string{testKey, ""} {
		s := llmtest.NewServer(t)
		p := newOpenAI(t, s, func(o *OpenAIOptions) { o.APIKey = key })
		if r := collect(t, context.Background(), p, question); r.err != nil {
			t.Fatal(r.err)
		}
		h := s.Requests()[0].Header
		want := ""
		if key != "" {
			want = "Bearer " + key
		}
		if got := h.Get("Authorization"); got != want {
			t.Errorf("key %q: Authorization %q, want %q", key, got, want)
		}
		for _, name := range []string{"OpenAI-Organization", "OpenAI-Project", "X-From-Env"} {
			if h.Get(name) != "" {
				t.Errorf("key %q: header %s = %q from the environment", key, name, h.Get(name))
			}
		}
	}
	if n := len(other.Requests()); n != 0 {
		t.Errorf("OPENAI_BASE_URL got %d requests", n)
	}
}

func TestOpenAIName(t *testing.T) {
	tests := []struct{ base, want string }{
		{"", "OpenAI · m"},
		{"https://api.openai.com/v1", "OpenAI · m"},
		{"http://localhost:11434/v1/", "localhost:11434 · m"},
		{"http://gpu1.lan:8000/v1", "gpu1.lan:8000 · m"},
	}
	for _, tt := range tests {
		p, err := NewOpenAI(OpenAIOptions{BaseURL: tt.base, APIKey: testKey, Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		if p.Name() != tt.want || p.Model() != "m" {
			t.Errorf("base %q: Name %q Model %q, want %q", tt.base, p.Name(), p.Model(), tt.want)
		}
	}
}

func TestNewOpenAIRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    OpenAIOptions
	}{
		{"no model", OpenAIOptions{APIKey: testKey}},
		{"OpenAI without key", OpenAIOptions{Model: "m"}},
		{"bad base URL", OpenAIOptions{BaseURL: "localhost:11434", Model: "m"}},
	}
	for _, tt := range tests {
		_, err := NewOpenAI(tt.o)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if _, err := NewOpenAI(OpenAIOptions{BaseURL: "http://localhost:11434/v1", Model: "m"}); err != nil {
		t.Errorf("a local server without key: %v", err)
	}
}
