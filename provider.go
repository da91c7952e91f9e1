package hxchat

import (
	"context"
	"iter"
	"time"
)

// Provider is a chat model that streams its answer. llm/ implements it for
// Azure OpenAI, OpenAI and OpenAI-compatible servers, and the offline demo model.
type Provider interface {
	// Name says which model answers, for the page and the log
	// (for example "Azure OpenAI · gpt-4o"). It never contains a key.
	Name() string
	// Model is the model or deployment name stored with each answer.
	Model() string
	// Stream sends the request and yields the answer as it arrives. The last
	// delta of a complete answer has a FinishReason. An error is yielded at
	// most once, as the last value, and is an *Error with an upstream code and
	// a safe message. Before the answer starts, a delta with Retry says that
	// the provider waits to try again. Cancelling ctx ends the stream and closes the upstream
	// connection; the iterator then yields ctx's error.
	Stream(ctx context.Context, req ChatRequest) iter.Seq2[Delta, error]
}

// ChatRequest is what a Provider is asked: a system prompt and the history of
// the conversation, oldest first, ending with the user's question.
type ChatRequest struct {
	Model    string // the model to answer (see llm.Models); empty: the provider's own
	System   string
	Messages []Turn
}

// Turn is one message of the history sent to a model.
type Turn struct {
	Role    Role
	Content string
}

// Delta is one step of a streamed answer.
type Delta struct {
	Text         string // the next piece of the answer; may be empty
	FinishReason string // set on the step that ends the answer
	Usage        *Usage // set when the provider reports usage (usually last)
	// Retry, when set, says that the request failed before the answer
	// started and that the provider tries again after a wait; such a delta
	// carries nothing else.
	Retry *Retry
}

// Retry is a wait of a provider before it sends its request again.
type Retry struct {
	Code    ErrorCode     // why: the error of the failed attempt, such as ERateLimited
	Status  int           // the failed attempt's HTTP status; 0 when no response came (the connection failed or timed out)
	After   time.Duration // how long it waits, as the service asked if it did
	Attempt int           // the attempt that follows the wait: 2 is the first retry
	Of      int           // the attempts it makes at most
	Err     error         // the failed attempt's error, for the log
}

// Provider finish reasons that hxchat acts on.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishContentFilter = "content_filter"
)
