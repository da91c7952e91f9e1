package llm

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/cputime"
)

// BenchmarkRequest measures what an answer costs hxchat's side of the model
// service before and after its tokens: the request (the body made from the
// conversation, the SDK's options and headers, the HTTP client's round
// trip) and the end of its response. The model service is an
// http.RoundTripper that answers at once from memory with a response of
// one token, so that no socket is measured; an op is one answer: to a
// first message, and to the next message of a conversation of 20 turns.
//
//	go test -run '^$' -bench Request -benchmem ./llm
func BenchmarkRequest(b *testing.B) {
	body := []byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w1\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}}\n\n" +
		"data: [DONE]\n\n")
	p, err := NewOpenAI(OpenAIOptions{BaseURL: "http://model.invalid/v1", Model: "bench", APIKey: "sk-bench",
		Common: Common{HTTPClient: &http.Client{Transport: memModel(body)}}})
	if err != nil {
		b.Fatal(err)
	}
	first := hxchat.ChatRequest{Messages: []hxchat.Turn{{Role: hxchat.RoleUser, Content: "bench tokens=100 every=250ms delay=200ms line=20"}}}
	var history hxchat.ChatRequest // 20 turns, 29 KB
	for range 20 {
		history.Messages = append(history.Messages,
			hxchat.Turn{Role: hxchat.RoleUser, Content: strings.Repeat("What is a goroutine? ", 25)},
			hxchat.Turn{Role: hxchat.RoleAssistant, Content: strings.Repeat("A goroutine is a \"function\" running concurrently.\n", 20)})
	}
	for _, c := range []struct {
		name string
		req  hxchat.ChatRequest
	}{{"first", first}, {"history", history}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cputime.Start()
			for b.Loop() {
				n := 0
				for d, err := range p.Stream(context.Background(), c.req) {
					if err != nil {
						b.Fatal(err)
					}
					n += len(d.Text)
				}
				if n != 3 {
					b.Fatalf("%d bytes of text, want 3", n)
				}
			}
			cpu.Report(b)
		})
	}
}

// memModel is a model service that answers every request with its bytes.
type memModel []byte

func (m memModel) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	h := http.Header{"Content-Type": {"text/event-stream"}}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(m)), ContentLength: -1, Request: req}, nil
}
