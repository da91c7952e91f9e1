package llm

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// shapes builds a provider of each wire shape on s.
var shapes = []struct {
	name string
	new  func(t *testing.T, s *llmtest.Server, c Common) hxchat.Provider
}{
	{"azure", func(t *testing.T, s *llmtest.Server, c Common) hxchat.Provider {
		return newAzure(t, s, func(o *AzureOptions) { o.Common = c })
	}},
	{"openai", func(t *testing.T, s *llmtest.Server, c Common) hxchat.Provider {
		return newOpenAI(t, s, func(o *OpenAIOptions) { o.Common = c })
	}},
}

func TestErrorMapping(t *testing.T) {
	three := []string{"one", " two", " three"}
	tests := []struct {
		name       string
		reply      llmtest.Reply
		want       hxchat.ErrorCode
		text       string        // received before the error
		retryAfter time.Duration // want in the *hxchat.Error
	}{
		{name: "401", reply: llmtest.Reply{Status: 401}, want: hxchat.EUpstreamAuth},
		{name: "403", reply: llmtest.Reply{Status: 403}, want: hxchat.EUpstreamAuth},
		{name: "404", reply: llmtest.Reply{Status: 404}, want: hxchat.EUpstreamSetup},
		{name: "400 prompt filtered", reply: llmtest.Reply{Status: 400, ErrorBody: llmtest.AzurePromptFilteredBody}, want: hxchat.EFiltered},
		{name: "400", reply: llmtest.Reply{Status: 400}, want: hxchat.EUpstreamSetup},
		{name: "400 context length", want: hxchat.EContextLength, reply: llmtest.Reply{Status: 400,
			ErrorBody: `{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`}},
		{name: "400 vLLM context length", want: hxchat.EContextLength, reply: llmtest.Reply{Status: 400,
			ErrorBody: `{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}`}},
		{name: "404 Ollama", reply: llmtest.Reply{Status: 404, ErrorBody: `{"error":"model \"llama9\" not found, try pulling it first"}`}, want: hxchat.EUpstreamSetup},
		{name: "429 Retry-After", reply: llmtest.Reply{Status: 429, Headers: map[string]string{"Retry-After": "7"}},
			want: hxchat.ERateLimited, retryAfter: 7 * time.Second},
		{name: "429 retry-after-ms", reply: llmtest.Reply{Status: 429, Headers: map[string]string{"retry-after-ms": "1500", "retry-after": "2"}},
			want: hxchat.ERateLimited, retryAfter: 1500 * time.Millisecond},
		{name: "429 quota", want: hxchat.EQuota, reply: llmtest.Reply{Status: 429,
			ErrorBody: `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`}},
		{name: "500", reply: llmtest.Reply{Status: 500}, want: hxchat.EUpstream},
		{name: "502 HTML", reply: llmtest.Reply{Status: 502, ErrorBody: "<html><body>Bad Gateway</body></html>"}, want: hxchat.EUpstream},
		{name: "drop mid-stream", reply: llmtest.Reply{Tokens: three, DropAfter: 2}, want: hxchat.EUpstream, text: "one two"},
		{name: "reset before the first byte", reply: llmtest.Reply{Tokens: three, Reset: true}, want: hxchat.EUpstream},
		{name: "reset mid-stream", reply: llmtest.Reply{Tokens: three, DropAfter: 2, Reset: true}, want: hxchat.EUpstream, text: "one two"},
		{name: "EOF without finish or DONE", reply: llmtest.Reply{Tokens: three, NoFinish: true, NoDone: true}, want: hxchat.EUpstream, text: "one two three"},
		{name: "DONE without finish", reply: llmtest.Reply{Tokens: three, NoFinish: true}, want: hxchat.EUpstream, text: "one two three"},
		{name: "malformed chunk", reply: llmtest.Reply{Tokens: three, Malformed: true}, want: hxchat.EUpstream, text: "one two three"},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			t.Run(sh.name+"/"+tt.name, func(t *testing.T) {
				s := llmtest.NewServer(t)
				s.Reply(tt.reply)
				r := collect(t, context.Background(), sh.new(t, s, Common{}), question)
				if r.err == nil {
					t.Fatalf("no error; text %q finish %q", r.text, r.finish)
				}
				if got := code(t, r.err); got != tt.want {
					t.Errorf("code %s, want %s (%v)", got, tt.want, r.err)
				}
				if r.text != tt.text || r.finish != "" {
					t.Errorf("text %q finish %q before the error, want %q", r.text, r.finish, tt.text)
				}
				if e := r.err.(*hxchat.Error); e.RetryAfter != tt.retryAfter {
					t.Errorf("RetryAfter %v, want %v", e.RetryAfter, tt.retryAfter)
				}
				if strings.Contains(hxchat.SafeMessage(r.err), "{") {
					t.Errorf("the message shows an upstream body: %q", hxchat.SafeMessage(r.err))
				}
				if n := len(s.Requests()); n != 1 {
					t.Errorf("%d requests with no retries", n)
				}
			})
		}
	}
}

// TestSettingsToCheck: when the service refuses the key or cannot find the
// model, the error's text for the log names the settings to check, for
// Azure and for OpenAI.
func TestSettingsToCheck(t *testing.T) {
	tests := []struct {
		shape  string
		status int
		want   []string
	}{
		{"azure", 401, []string{"check AZURE_OPENAI_API_KEY"}},
		{"azure", 403, []string{"check AZURE_OPENAI_API_KEY"}},
		{"azure", 404, []string{"AZURE_OPENAI_ENDPOINT", `AZURE_OPENAI_DEPLOYMENT ("gpt-4o"`, `AZURE_OPENAI_API_VERSION ("2024-10-21")`}},
		{"openai", 401, []string{"check OPENAI_API_KEY"}},
		{"openai", 404, []string{"OPENAI_BASE_URL (http://", `OPENAI_MODEL ("gpt-4o-mini")`}},
	}
	for _, tt := range tests {
		for _, sh := range shapes {
			if sh.name != tt.shape {
				continue
			}
			s := llmtest.NewServer(t)
			s.Reply(llmtest.Reply{Status: tt.status})
			r := collect(t, context.Background(), sh.new(t, s, Common{}), question)
			for _, w := range tt.want {
				if r.err == nil || !strings.Contains(r.err.Error(), w) {
					t.Errorf("%s %d: the log text %v does not say %q", tt.shape, tt.status, r.err, w)
				}
			}
			if strings.Contains(hxchat.SafeMessage(r.err), "AZURE_") || strings.Contains(hxchat.SafeMessage(r.err), "OPENAI_") {
				t.Errorf("the user's message names settings: %q", hxchat.SafeMessage(r.err))
			}
		}
	}
}

// TestKeyNeverInErrors: OpenAI's 401 echoes the key presented; the error
// texts must not.
func TestKeyNeverInErrors(t *testing.T) {
	s := llmtest.NewServer(t)
	s.Reply(llmtest.Reply{Status: 401})
	r := collect(t, context.Background(), newOpenAI(t, s, nil), question)
	if code(t, r.err) != hxchat.EUpstreamAuth {
		t.Fatalf("error %v", r.err)
	}
	if !strings.Contains(r.err.Error(), "[redacted]") {
		t.Errorf("the log text should keep the upstream message, redacted: %v", r.err)
	}
	if !strings.Contains(hxchat.SafeMessage(r.err), "API key") {
		t.Errorf("the message should tell the admin to check the API key: %q", hxchat.SafeMessage(r.err))
	}
}

// TestRetries: a request that fails before the answer starts is sent again,
// up to MaxRetries, after the wait the service asked for (or a backoff), and
// each wait is announced before it; a failure the service says not to retry,
// a spent quota, a wait over a minute and a failure once the answer has
// started are not retried. Each wait carries the failed attempt's HTTP
// status (0 when the connection failed).
func TestRetries(t *testing.T) {
	limited := llmtest.Reply{Status: 429, Headers: map[string]string{"retry-after-ms": "30"}}
	failed := llmtest.Reply{Status: 500, Headers: map[string]string{"retry-after-ms": "1"}}
	ok := llmtest.Reply{Tokens: []string{"fine"}}
	tests := []struct {
		name     string
		retries  int
		replies  []llmtest.Reply
		want     hxchat.ErrorCode // "" for an answer
		requests int
		wait     time.Duration // the first announced wait; 0: any
	}{
		{"429 no retries", 0, []llmtest.Reply{limited, ok}, hxchat.ERateLimited, 1, 0},
		{"429 then ok", 2, []llmtest.Reply{limited, ok}, "", 2, 30 * time.Millisecond},
		{"429 until retries run out", 1, []llmtest.Reply{limited}, hxchat.ERateLimited, 2, 30 * time.Millisecond},
		{"500 then ok", 1, []llmtest.Reply{failed, ok}, "", 2, time.Millisecond},
		{"503 backoff then ok", 1, []llmtest.Reply{{Status: 503}, ok}, "", 2, 0},
		{"408 then ok", 1, []llmtest.Reply{{Status: 408, Headers: map[string]string{"retry-after-ms": "1"}}, ok}, "", 2, time.Millisecond},
		{"429 Retry-After over a minute", 2, []llmtest.Reply{{Status: 429, Headers: map[string]string{"Retry-After": "120"}}, ok}, hxchat.ERateLimited, 1, 0},
		{"429 quota spent", 2, []llmtest.Reply{{Status: 429, ErrorBody: `{"error":{"code":"insufficient_quota","message":"quota"}}`}, ok}, hxchat.EQuota, 1, 0},
		{"500 x-should-retry false", 2, []llmtest.Reply{{Status: 500, Headers: map[string]string{"x-should-retry": "false"}}, ok}, hxchat.EUpstream, 1, 0},
		{"400 x-should-retry true", 1, []llmtest.Reply{{Status: 400, Headers: map[string]string{"x-should-retry": "true", "retry-after-ms": "1"}}, ok}, "", 2, time.Millisecond},
		{"reset before the first byte, then ok", 1, []llmtest.Reply{{Reset: true}, ok}, "", 2, 0},
		{"reset mid-stream not retried", 2, []llmtest.Reply{{Tokens: []string{"a", "b"}, DropAfter: 1, Reset: true}, ok}, hxchat.EUpstream, 1, 0},
		{"401 not retried", 2, []llmtest.Reply{{Status: 401}, ok}, hxchat.EUpstreamAuth, 1, 0},
		{"no retry once streaming", 2, []llmtest.Reply{{Tokens: []string{"a", "b"}, DropAfter: 1}, ok}, hxchat.EUpstream, 1, 0},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			t.Run(sh.name+"/"+tt.name, func(t *testing.T) {
				s := llmtest.NewServer(t)
				s.Reply(tt.replies...)
				start := time.Now()
				r := collect(t, context.Background(), sh.new(t, s, Common{MaxRetries: tt.retries}), question)
				if got := hxchat.Code(r.err); got != tt.want {
					t.Fatalf("code %q, want %q (%v)", got, tt.want, r.err)
				}
				if tt.want == "" && r.text != "fine" {
					t.Errorf("text %q", r.text)
				}
				reqs := s.Requests()
				if len(reqs) != tt.requests {
					t.Fatalf("%d requests, want %d", len(reqs), tt.requests)
				}
				if len(r.waits) != tt.requests-1 {
					t.Fatalf("%d retries announced for %d requests", len(r.waits), tt.requests)
				}
				for i, w := range r.waits {
					if w.Attempt != i+2 || w.Of != tt.retries+1 || w.Code == "" || (tt.replies[0].Status == 429) != (w.Code == hxchat.ERateLimited) {
						t.Errorf("retry %d announced as %+v", i, w)
					}
					if w.Status != tt.replies[i].Status { // 0 for a reset: no response came
						t.Errorf("retry %d announced with the status %d, want %d", i, w.Status, tt.replies[i].Status)
					}
					if got := reqs[i+1].Header.Get("X-Stainless-Retry-Count"); got != strconv.Itoa(i+1) {
						t.Errorf("retry count header %q", got)
					}
				}
				if len(r.waits) > 0 {
					w := r.waits[0]
					if tt.wait > 0 && w.After != tt.wait || w.After <= 0 || w.After > time.Second {
						t.Errorf("announced wait %v, want %v", w.After, tt.wait)
					}
					if time.Since(start) < w.After {
						t.Errorf("the retry came before its announced wait of %v", w.After)
					}
				}
			})
		}
	}
}

// TestRetryCancelled: cancelling during a retry's wait ends the stream at
// once with the context's error.
func TestRetryCancelled(t *testing.T) {
	s := llmtest.NewServer(t)
	s.Reply(llmtest.Reply{Status: 429, Headers: map[string]string{"Retry-After": "30"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newOpenAI(t, s, func(o *OpenAIOptions) { o.MaxRetries = 2 })
	start := time.Now()
	var err error
	for d, e := range p.Stream(ctx, question) {
		if d.Retry != nil {
			if d.Retry.After != 30*time.Second || d.Retry.Code != hxchat.ERateLimited {
				t.Errorf("retry %+v", d.Retry)
			}
			cancel()
		}
		err = e
	}
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("after %v: %v", time.Since(start), err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, p := range []func() (hxchat.Provider, error){
		func() (hxchat.Provider, error) {
			return NewAzure(AzureOptions{Endpoint: "http://" + addr, APIKey: testKey, APIVersion: "2024-10-21", Deployment: "d"})
		},
		func() (hxchat.Provider, error) {
			return NewOpenAI(OpenAIOptions{BaseURL: "http://" + addr + "/v1", APIKey: testKey, Model: "m"})
		},
	} {
		p, err := p()
		if err != nil {
			t.Fatal(err)
		}
		r := collect(t, context.Background(), p, question)
		if code(t, r.err) != hxchat.EUpstream || hxchat.SafeMessage(r.err) != "Could not reach the model service." {
			t.Errorf("%s: %v", p.Name(), r.err)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			s := llmtest.NewServer(t)
			s.Reply(llmtest.Reply{Tokens: []string{"a", "b"}, Stall: true})
			start := time.Now()
			r := collect(t, context.Background(), sh.new(t, s, Common{IdleTimeout: 100 * time.Millisecond}), question)
			if code(t, r.err) != hxchat.ETimeout || r.text != "ab" {
				t.Fatalf("error %v after %q", r.err, r.text)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			waitAborted(t, s.Requests()[0])
		})
	}
}

// TestIdleTimeoutSparesSlowCaller: the idle timer does not run while the
// caller handles a delta.
func TestIdleTimeoutSparesSlowCaller(t *testing.T) {
	s := llmtest.NewServer(t)
	s.Reply(llmtest.Reply{Tokens: []string{"a", "b", "c"}})
	p := newOpenAI(t, s, func(o *OpenAIOptions) { o.IdleTimeout = 50 * time.Millisecond })
	text := ""
	for d, err := range p.Stream(context.Background(), question) {
		if err != nil {
			t.Fatal(err)
		}
		text += d.Text
		time.Sleep(100 * time.Millisecond)
	}
	if text != "abc" {
		t.Errorf("text %q", text)
	}
}

// waitAborted waits until the server saw the client close the request.
func waitAborted(t *testing.T, rq llmtest.Request) {
	t.Helper()
	select {
	case <-rq.Aborted:
	case <-time.After(5 * time.Second):
		t.Error("the upstream request was not closed")
	}
}

func TestCallerCancel(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			s := llmtest.NewServer(t)
			gate := make(chan struct{})
			s.Reply(llmtest.Reply{Tokens: []string{"a", "b", "c"}, Gate: gate, GateAfter: 1})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var got []string
			var last error
			for d, err := range sh.new(t, s, Common{}).Stream(ctx, question) {
				if err != nil {
					last = err
					continue
				}
				got = append(got, d.Text)
				cancel() // after the first token; the server holds the second
			}
			if !errors.Is(last, context.Canceled) || len(got) != 1 || got[0] != "a" {
				t.Fatalf("got %q then %v, want [a] then context.Canceled", got, last)
			}
			waitAborted(t, s.Requests()[0])
		})
	}
}

func TestCallerDeadline(t *testing.T) {
	s := llmtest.NewServer(t)
	s.Reply(llmtest.Reply{Tokens: []string{"a"}, Stall: true})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := collect(t, ctx, newOpenAI(t, s, nil), question)
	if code(t, r.err) != hxchat.ETimeout || !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("error %v", r.err)
	}
	waitAborted(t, s.Requests()[0])
}

// TestCallerStops: breaking out of the loop closes the upstream request.
func TestCallerStops(t *testing.T) {
	s := llmtest.NewServer(t)
	gate := make(chan struct{})
	s.Reply(llmtest.Reply{Tokens: []string{"a", "b"}, Gate: gate, GateAfter: 1})
	for _, err := range newOpenAI(t, s, nil).Stream(context.Background(), question) {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	waitAborted(t, s.Requests()[0])
}

func TestContentFilterMidAnswer(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			s := llmtest.NewServer(t)
			s.Reply(llmtest.Reply{Tokens: []string{"Once", " upon"}, FinishReason: "content_filter"})
			r := collect(t, context.Background(), sh.new(t, s, Common{}), question)
			if r.err != nil || r.text != "Once upon" || r.finish != hxchat.FinishContentFilter {
				t.Errorf("text %q finish %q error %v", r.text, r.finish, r.err)
			}
		})
	}
}

// TestFinishThenDrop: an answer that ended keeps its end even when the
// connection breaks before the usage chunk.
func TestFinishThenDrop(t *testing.T) {
	s := llmtest.NewServer(t)
	s.Reply(llmtest.Reply{Tokens: []string{"done"}, NoUsage: true, NoDone: true})
	r := collect(t, context.Background(), newOpenAI(t, s, nil), question)
	if r.err != nil || r.finish != "stop" || r.usage != nil {
		t.Errorf("finish %q usage %v error %v", r.finish, r.usage, r.err)
	}
}

// TestMapErrorUnreachable covers causes the fake server cannot produce.
func TestMapErrorUnreachable(t *testing.T) {
	p := &chatProvider{secret: testKey, idle: time.Second}
	ctx := context.Background()
	tests := []struct {
		name    string
		err     error
		started bool
		want    hxchat.ErrorCode
	}{
		{"error event mid-stream", &ssestream.StreamError{Message: "received error while streaming: {\"message\":\"bad key " + testKey + "\"}"}, true, hxchat.EUpstream},
		{"header timeout", &url.Error{Op: "Post", URL: "http://x", Err: timeoutError{}}, false, hxchat.ETimeout},
		{"read timeout", timeoutError{}, true, hxchat.ETimeout},
		{"SDK refuses the setup", errors.New("azure: authenticated requests require HTTPS"), false, hxchat.EUpstreamSetup},
	}
	for _, tt := range tests {
		err := p.mapError(ctx, ctx, tt.err, nil, tt.started)
		if code(t, err) != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.want)
		}
		checkNoKey(t, err)
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// TestIdleTimeoutSetting: 0 takes the default, a negative value turns the
// limit off (the -idle-timeout setting's 0).
func TestIdleTimeoutSetting(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{0: DefaultIdleTimeout, -1: 0, 5 * time.Second: 5 * time.Second} {
		if got := (Common{IdleTimeout: in}).idleTimeout(); got != want {
			t.Errorf("IdleTimeout %v: %v, want %v", in, got, want)
		}
	}
}
