package llm

import (
	"errors"
	"testing"

	"github.com/hxchat/hxchat"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// TestDecodeChunk: the chunks OpenAI and Azure send, and the ones a broken
// server might.
func TestDecodeChunk(t *testing.T) {
	usage := &hxchat.Usage{PromptTokens: 12, CompletionTokens: 34}
	for _, c := range []struct {
		name, data string
		want       hxchat.Delta
		finished   bool
	}{
		{"Azure prompt filter results, no choices", `{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}`, hxchat.Delta{}, false},
		{"role only", `{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`, hxchat.Delta{}, false},
		{"Azure token", string(azureChunk), hxchat.Delta{Text: " token"}, false},
		{"escapes", `{"choices":[{"delta":{"content":"\u3042\n\"<b>\" \ud83d\ude00"}}]}`, hxchat.Delta{Text: "あ\n\"<b>\" 😀"}, false},
		{"refusal", `{"choices":[{"delta":{"refusal":"I can't"},"finish_reason":null}]}`, hxchat.Delta{Text: "I can't"}, false},
		{"finish", `{"choices":[{"delta":{},"finish_reason":"stop"}]}`, hxchat.Delta{FinishReason: "stop"}, true},
		{"content filter", `{"choices":[{"delta":{},"finish_reason":"content_filter","content_filter_results":{"hate":{"filtered":true,"severity":"high"}}}]}`, hxchat.Delta{FinishReason: "content_filter"}, true},
		{"Azure choice without delta", `{"choices":[{"content_filter_offsets":{"check_offset":0,"start_offset":0,"end_offset":9},"content_filter_results":{},"finish_reason":null,"index":0}]}`, hxchat.Delta{}, false},
		{"usage", `{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}`, hxchat.Delta{Usage: usage}, false},
		{"usage with text", `{"choices":[{"delta":{"content":"x"},"finish_reason":"length"}],"usage":{"prompt_tokens":12,"completion_tokens":34}}`, hxchat.Delta{Text: "x", FinishReason: "length", Usage: usage}, true},
		{"keys in another order, spaces", ` { "usage" : null , "choices" : [ { "finish_reason" : null , "delta" : { "content" : "y" } } ] } `, hxchat.Delta{Text: "y"}, false},
		{"invalid UTF-8 (as encoding/json reads it)", "{\"choices\":[{\"delta\":{\"content\":\"a\xffb\"}}]}", hxchat.Delta{Text: "a\uFFFDb"}, false},
		{"null choices", `{"choices":null}`, hxchat.Delta{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, finished, err := decodeChunk(ssestream.Event{Data: []byte(c.data)})
			if err != nil {
				t.Fatal(err)
			}
			if d.Text != c.want.Text || d.FinishReason != c.want.FinishReason || finished != c.finished ||
				(d.Usage == nil) != (c.want.Usage == nil) || (d.Usage != nil && *d.Usage != *c.want.Usage) {
				t.Errorf("got %+v (usage %+v) finished %v, want %+v (usage %+v) finished %v", d, d.Usage, finished, c.want, c.want.Usage, c.finished)
			}
		})
	}

	for _, data := range []string{
		``, `not json`, `{"choices":[{"delta":{"content":"tok`, `{"choices":[{"delta":{"content":"a"}}]}}`,
		`[1,2]`, `"chunk"`, ` 7`, `{"choices":[{"delta":{"content":5}}]}`,
		`{"choices":[{"delta":{"content":["a"]}}]}`, `{"choices":[{"finish_reason":1}]}`,
		`{"usage":"many"}`, `{"usage":{"prompt_tokens":"12"}}`,
	} {
		if d, _, err := decodeChunk(ssestream.Event{Data: []byte(data)}); !errors.Is(err, errMalformed) {
			t.Errorf("%q: %+v, %v; want errMalformed", data, d, err)
		}
	}

	_, _, err := decodeChunk(ssestream.Event{Data: []byte(`{"error":{"message":"The server had an error","type":"server_error"}}`)})
	if se, ok := errors.AsType[*ssestream.StreamError](err); !ok || se.Message == "" {
		t.Errorf("error chunk: %v; want a StreamError", err)
	}
}
