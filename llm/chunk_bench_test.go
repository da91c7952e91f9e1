package llm

import (
	"encoding/json"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// azureChunk is one token of an Azure OpenAI stream, as Azure sends it.
var azureChunk = []byte(`{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"delta":{"content":" token"},"finish_reason":null,"index":0,"logprobs":null}],"created":1732590000,"id":"chatcmpl-AXyz0123456789abcdefghijk","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk","system_fingerprint":"fp_04751d0b65"}`)

// BenchmarkChunkDecode: decoding one token's chunk, into the SDK's type and
// and as hxchat reads it (decodeChunk).
func BenchmarkChunkDecode(b *testing.B) {
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c openai.ChatCompletionChunk
			if err := json.Unmarshal(azureChunk, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hxchat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, _, err := decodeChunk(ssestream.Event{Data: azureChunk})
			if err != nil || d.Text != " token" {
				b.Fatal(d, err)
			}
		}
	})
}
