package llmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// azureModel is the model name Azure reports in chunks: the underlying
// model, not the deployment name.
const azureModel = "gpt-4o-2024-11-20"

// Content filter annotations as Azure sends them: on the prompt (first
// chunk), on each choice, and on a choice that the filter stopped.
const (
	promptFilterResults = `[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}}]`
	choiceFilterResults = `{"hate":{"filtered":false,"severity":"safe"},"protected_material_code":{"filtered":false,"detected":false},"protected_material_text":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}}`
	choiceFiltered      = `{"hate":{"filtered":false,"severity":"safe"},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"high"}}`
)

// stream writes one streamed reply.
type stream struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	r     *http.Request
	s     *Server
	shape shape
	n     int // request number, for the chunk id
	req   ChatBody
}

// run streams reply and reports false when the client went away first.
func (st *stream) run(reply Reply) bool {
	h := st.w.Header()
	for k, v := range reply.Headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	if st.shape == shapeOpenAI {
		h.Set("X-Request-Id", fmt.Sprintf("req_llmtest_%d", st.n))
	} else {
		h.Set("Apim-Request-Id", fmt.Sprintf("00000000-0000-0000-0000-%012d", st.n))
	}
	st.w.WriteHeader(http.StatusOK)

	if st.shape != shapeOpenAI && !st.send(`{"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":`+promptFilterResults+`}`) {
		return false
	}
	if !st.send(st.chunk(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null%s}`, "{}")) {
		return false
	}
	for i, tok := range reply.Tokens {
		if reply.Gate != nil && i >= reply.GateAfter && !st.wait(reply.Gate, 0) {
			return false
		}
		if reply.Delay > 0 && !st.wait(nil, reply.Delay) {
			return false
		}
		if !st.send(st.chunk(`{"index":0,"delta":{"content":`+quote(tok)+`},"logprobs":null,"finish_reason":null%s}`, choiceFilterResults)) {
			return false
		}
		if i+1 == reply.DropAfter {
			if reply.Reset {
				resetConn(st.w)
				return false
			}
			panic(http.ErrAbortHandler) // closes the connection mid-body
		}
	}
	switch {
	case reply.DropAfter > len(reply.Tokens):
		panic(http.ErrAbortHandler)
	case reply.Malformed:
		return st.send(`{"id":"chatcmpl-llmtest","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"oops`)
	case reply.Stall:
		return st.wait(make(chan struct{}), 0) // never released: waits for the client or Close
	}
	if !reply.NoFinish && !st.send(st.finish(reply.FinishReason)) {
		return false
	}
	if opts := st.req.StreamOptions; opts != nil && opts.IncludeUsage && !reply.NoUsage {
		p, c := promptTokens(st.req.Messages), len(reply.Tokens)
		usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`, p, c, p+c)
		if !st.send(fmt.Sprintf(`{"id":"chatcmpl-llmtest-%d","object":"chat.completion.chunk","created":1700000000,"model":%s,"system_fingerprint":"fp_llmtest","choices":[],"usage":%s}`, st.n, quote(st.model()), usage)) {
			return false
		}
	}
	if reply.NoDone {
		return true
	}
	if !st.send("[DONE]") {
		return false
	}
	if reply.StallAfterDone {
		return st.wait(make(chan struct{}), 0) // never released: waits for the client or Close
	}
	return true
}

// finish returns the chunk that ends the answer. Azure reports its content
// filter stopping an answer in an annotation chunk without a delta.
func (st *stream) finish(reason string) string {
	if reason == "" {
		reason = "stop"
	}
	if reason == "content_filter" && st.shape != shapeOpenAI {
		return `{"id":"","object":"","created":0,"model":"","choices":[{"index":0,"finish_reason":"content_filter","content_filter_results":` + choiceFiltered + `,"content_filter_offsets":{"check_offset":65,"start_offset":65,"end_offset":1056}}],"usage":null}`
	}
	return st.chunk(`{"index":0,"delta":{},"logprobs":null,"finish_reason":`+quote(reason)+`%s}`, "{}")
}

// chunk wraps one choice (a format with one %s for Azure's
// content_filter_results) in a chunk of the request's shape.
func (st *stream) chunk(choiceFormat, filter string) string {
	extra, usage := "", ""
	if st.shape != shapeOpenAI {
		extra = `,"content_filter_results":` + filter
	}
	if opts := st.req.StreamOptions; opts != nil && opts.IncludeUsage {
		usage = `,"usage":null`
	}
	choice := fmt.Sprintf(choiceFormat, extra)
	return fmt.Sprintf(`{"id":"chatcmpl-llmtest-%d","object":"chat.completion.chunk","created":1700000000,"model":%s,"system_fingerprint":"fp_llmtest","choices":[%s]%s}`, st.n, quote(st.model()), choice, usage)
}

func (st *stream) model() string {
	if st.shape == shapeOpenAI {
		return st.req.Model
	}
	return azureModel
}

// send writes one SSE event and flushes it; false means the client is gone.
func (st *stream) send(data string) bool {
	if _, err := io.WriteString(st.w, "data: "+data+"\n\n"); err != nil {
		return false
	}
	return st.rc.Flush() == nil && st.r.Context().Err() == nil
}

// wait waits for a value from gate (if not nil) or for d (if > 0); false
// means the client went away or the server closed.
func (st *stream) wait(gate <-chan struct{}, d time.Duration) bool {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-gate:
	case <-timer:
	case <-st.r.Context().Done():
		return false
	case <-st.s.done:
		return false
	}
	return true
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
