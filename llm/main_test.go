package llm

import (
	"context"
	"strings"
	"testing"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/llm/llmtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testKey is the configured key; no error text may contain it.
const testKey = "test-key-3f9a2b7c8d1e4f60"

// result is everything a stream yielded.
type result struct {
	deltas []hxchat.Delta
	text   string
	finish string
	usage  *hxchat.Usage
	err    error
	waits  []hxchat.Retry // the retries announced
}

// collect runs a stream to its end and checks the Provider contract: an
// error comes at most once, last; nothing follows a finish reason but usage.
func collect(t *testing.T, ctx context.Context, p hxchat.Provider, req hxchat.ChatRequest) result {
	t.Helper()
	var r result
	for d, err := range p.Stream(ctx, req) {
		if r.err != nil {
			t.Fatalf("a value after the error %v", r.err)
		}
		if err != nil {
			r.err = err
			continue
		}
		if d.Retry != nil {
			if r.text != "" || d != (hxchat.Delta{Retry: d.Retry}) {
				t.Fatalf("a retry after text, or with more in its delta: %+v", d)
			}
			r.waits = append(r.waits, *d.Retry)
			continue
		}
		if r.finish != "" && d.Text != "" {
			t.Fatalf("text %q after finish reason %q", d.Text, r.finish)
		}
		r.deltas = append(r.deltas, d)
		r.text += d.Text
		if d.FinishReason != "" {
			r.finish = d.FinishReason
		}
		if d.Usage != nil {
			r.usage = d.Usage
		}
	}
	if r.err != nil {
		checkNoKey(t, r.err)
	}
	return r
}

// checkNoKey fails if the key shows in an error's text or safe message.
func checkNoKey(t *testing.T, err error) {
	t.Helper()
	if strings.Contains(err.Error(), testKey) || strings.Contains(hxchat.SafeMessage(err), testKey) {
		t.Errorf("the API key leaks into the error: %v", err)
	}
}

// question is a request with a system prompt and some history.
var question = hxchat.ChatRequest{
	System: "You are terse.",
	Messages: []hxchat.Turn{
		{Role: hxchat.RoleUser, Content: "Hi there"},
		{Role: hxchat.RoleAssistant, Content: "Hello!"},
		{Role: hxchat.RoleUser, Content: "What is Go?"},
	},
}

// questionWords is the prompt_tokens llmtest reports for question.
const questionWords = 3 + 2 + 1 + 3

// newAzure returns an Azure provider on s with no retries.
func newAzure(t *testing.T, s *llmtest.Server, change func(*AzureOptions)) hxchat.Provider {
	t.Helper()
	o := AzureOptions{Endpoint: s.URL, APIKey: testKey, APIVersion: "2024-10-21", Deployment: "gpt-4o"}
	if change != nil {
		change(&o)
	}
	p, err := NewAzure(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newOpenAI returns an OpenAI-compatible provider on s with no retries.
func newOpenAI(t *testing.T, s *llmtest.Server, change func(*OpenAIOptions)) hxchat.Provider {
	t.Helper()
	o := OpenAIOptions{BaseURL: s.OpenAIBaseURL(), APIKey: testKey, Model: "gpt-4o-mini"}
	if change != nil {
		change(&o)
	}
	p, err := NewOpenAI(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// code returns err's hxchat code, and fails when err is not an *hxchat.Error.
func code(t *testing.T, err error) hxchat.ErrorCode {
	t.Helper()
	e, ok := err.(*hxchat.Error)
	if !ok {
		t.Fatalf("error %T %v, want *hxchat.Error", err, err)
	}
	if e.Message == "" || e.Err == nil {
		t.Errorf("error %+v: want a message and a cause", e)
	}
	return e.Code
}
