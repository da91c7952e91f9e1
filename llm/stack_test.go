package llm

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/hxchat/hxchat/llm/llmtest"
)

// stackTransport records the stack of the goroutine that sends each request.
type stackTransport struct {
	mu     sync.Mutex
	stacks []string
}

func (s *stackTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	buf := make([]byte, 64<<10)
	buf = buf[:runtime.Stack(buf, false)]
	s.mu.Lock()
	s.stacks = append(s.stacks, string(buf))
	s.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// TestRequestSentApart: the request goes out from a goroutine of its own,
// not from the one that iterates the stream, whose stack is then never grown
// by the SDK's encoding of the request and stays small for the whole answer
// (see Stream). Every attempt does, the retries too.
func TestRequestSentApart(t *testing.T) {
	s := llmtest.NewServer(t)
	s.Reply(llmtest.Reply{Status: http.StatusServiceUnavailable, Headers: map[string]string{"Retry-After-Ms": "1"}})
	s.Reply(llmtest.Reply{Tokens: []string{"Go", " is", " fun."}})
	tr := &stackTransport{}
	p := newOpenAI(t, s, func(o *OpenAIOptions) {
		o.HTTPClient = &http.Client{Transport: tr}
		o.MaxRetries = 1
	})
	r := collect(t, context.Background(), p, question)
	if r.err != nil || r.text != "Go is fun." || len(r.waits) != 1 {
		t.Fatalf("text %q, waits %d, err %v", r.text, len(r.waits), r.err)
	}
	if len(tr.stacks) != 2 {
		t.Fatalf("%d requests, want 2", len(tr.stacks))
	}
	for i, st := range tr.stacks {
		if strings.Contains(st, "llm.collect") || !strings.Contains(st, "created by github.com/hxchat/hxchat/llm.(*chatProvider).send") {
			t.Errorf("request %d sent from the stream's own goroutine:\n%s", i+1, st)
		}
	}
}
