package llm

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
)

// lanClient dials s whatever host a request names, so that a test can use a
// non-loopback host name.
func lanClient(t *testing.T, s *llmtest.Server) *http.Client {
	addr := s.URL[len("http://"):]
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestAzureRequestAndAnswer(t *testing.T) {
	tests := []struct {
		name      string
		tls       bool
		endpoint  func(s *llmtest.Server) string
		lan       bool   // a plain-HTTP host that is not loopback
		path      string // the path requested
		version   string // the api-version query, "" for none
		noVersion bool   // configure no API version
	}{
		{name: "http loopback", endpoint: func(s *llmtest.Server) string { return s.URL },
			path: "/openai/deployments/gpt-4o/chat/completions", version: "2024-10-21"},
		{name: "endpoint ending in /openai", endpoint: func(s *llmtest.Server) string { return s.URL + "/openai/" },
			path: "/openai/deployments/gpt-4o/chat/completions", version: "2024-10-21"},
		{name: "https", tls: true, endpoint: func(s *llmtest.Server) string { return s.URL + "/" },
			path: "/openai/deployments/gpt-4o/chat/completions", version: "2024-10-21"},
		{name: "http lan host", lan: true, endpoint: func(*llmtest.Server) string { return "http://aoai.internal.test:8080" },
			path: "/openai/deployments/gpt-4o/chat/completions", version: "2024-10-21"},
		{name: "v1 URL", endpoint: func(s *llmtest.Server) string { return s.URL + "/openai/v1/" },
			path: "/openai/v1/chat/completions"},
		{name: "v1 URL without version", noVersion: true, endpoint: func(s *llmtest.Server) string { return s.URL + "/openai/v1" },
			path: "/openai/v1/chat/completions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newServer := llmtest.NewServer
			if tt.tls {
				newServer = llmtest.NewTLSServer
			}
			s := newServer(t)
			s.Reply(llmtest.Reply{Tokens: []string{"Go", " is", " a", " language."}})
			p := newAzure(t, s, func(o *AzureOptions) {
				o.Endpoint = tt.endpoint(s)
				if tt.tls {
					o.HTTPClient = s.Client()
				}
				if tt.lan {
					o.HTTPClient = lanClient(t, s)
				}
				if tt.noVersion {
					o.APIVersion = ""
				}
			})
			if got, want := p.Name(), "Azure OpenAI · gpt-4o"; got != want || p.Model() != "gpt-4o" {
				t.Errorf("Name, Model = %q, %q; want %q, gpt-4o", got, p.Model(), want)
			}

			r := collect(t, context.Background(), p, question)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.text != "Go is a language." || r.finish != "stop" {
				t.Errorf("text %q finish %q", r.text, r.finish)
			}
			if want := (hxchat.Usage{PromptTokens: questionWords, CompletionTokens: 4}); r.usage == nil || *r.usage != want {
				t.Errorf("usage %v, want %v", r.usage, want)
			}
			for _, d := range r.deltas {
				if d == (hxchat.Delta{}) {
					t.Error("an empty delta (the prompt annotation chunk?) was yielded")
				}
			}

			reqs := s.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			rq := reqs[0]
			if rq.Method != http.MethodPost || rq.Path != tt.path || rq.Query.Get("api-version") != tt.version {
				t.Errorf("request %s %s ?%s, want POST %s api-version=%s", rq.Method, rq.Path, rq.Query.Encode(), tt.path, tt.version)
			}
			if rq.Header.Get("Api-Key") != testKey || rq.Header.Get("Authorization") != "" {
				t.Errorf("Api-Key %q Authorization %q", rq.Header.Get("Api-Key"), rq.Header.Get("Authorization"))
			}
			checkBody(t, rq.Body, "gpt-4o")
		})
	}
}

// checkBody checks the body sent for question.
func checkBody(t *testing.T, b llmtest.ChatBody, model string) {
	t.Helper()
	want := []llmtest.Message{
		{Role: "system", Content: "You are terse."},
		{Role: "user", Content: "Hi there"},
		{Role: "assistant", Content: "Hello!"},
		{Role: "user", Content: "What is Go?"},
	}
	if !slices.Equal(b.Messages, want) {
		t.Errorf("messages %+v, want %+v", b.Messages, want)
	}
	if b.Model != model || !b.Stream || b.StreamOptions == nil || !b.StreamOptions.IncludeUsage {
		t.Errorf("model %q stream %v stream_options %+v", b.Model, b.Stream, b.StreamOptions)
	}
}

// TestSDKRefusesAzureHTTPToLAN pins the SDK behaviour that NewAzure works
// around: Azure credentials over plain HTTP go only to loopback hosts, even
// with azure.WithUnsafeAllowHTTP. If this test fails, the SDK changed and the
// hand-built path in NewAzure may go.
func TestSDKRefusesAzureHTTPToLAN(t *testing.T) {
	s := llmtest.NewServer(t)
	svc := openai.NewChatCompletionService(
		azure.WithEndpoint("http://aoai.internal.test:8080", "2024-10-21"),
		azure.WithAPIKey(testKey),
		azure.WithUnsafeAllowHTTP(),
		option.WithHTTPClient(lanClient(t, s)),
		option.WithMaxRetries(0))
	st := svc.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	defer st.Close()
	if st.Err() == nil || !strings.Contains(st.Err().Error(), "HTTPS") || len(s.Requests()) != 0 {
		t.Errorf("err %v, %d requests: the SDK now sends Azure keys over HTTP to a LAN host", st.Err(), len(s.Requests()))
	}
}

func TestNewAzureRefusesBadOptions(t *testing.T) {
	ok := AzureOptions{Endpoint: "https://r.openai.azure.com", APIKey: testKey, APIVersion: "2024-10-21", Deployment: "d"}
	tests := []struct {
		name   string
		change func(*AzureOptions)
	}{
		{"no endpoint", func(o *AzureOptions) { o.Endpoint = "" }},
		{"not http", func(o *AzureOptions) { o.Endpoint = "ftp://r.openai.azure.com" }},
		{"no host", func(o *AzureOptions) { o.Endpoint = "https://" }},
		{"query", func(o *AzureOptions) { o.Endpoint = "https://r.openai.azure.com/?api-version=1" }},
		{"no key", func(o *AzureOptions) { o.APIKey = "" }},
		{"no deployment", func(o *AzureOptions) { o.Deployment = "" }},
		{"no version", func(o *AzureOptions) { o.APIVersion = "" }},
	}
	if _, err := NewAzure(ok); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.change(&o)
			_, err := NewAzure(o)
			if err == nil {
				t.Fatal("no error")
			}
			checkNoKey(t, err)
		})
	}
}
