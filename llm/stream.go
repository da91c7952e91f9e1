package llm

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// chatProvider streams chat completions from one model of one service.
type chatProvider struct {
	name, model string
	svc         openai.ChatCompletionService
	idle        time.Duration
	retries     int // times a request is sent again before the answer starts
	log         *slog.Logger
	secret      string // the API key, only to redact it from error texts
	check       settingsToCheck
}

// settingsToCheck names, for the log, the settings an administrator should
// check when the service refuses the key or cannot find the model.
type settingsToCheck struct {
	auth     string // on 401 and 403
	notFound string // on 404
}

func (p *chatProvider) Name() string  { return p.name }
func (p *chatProvider) Model() string { return p.model }

// errIdle is the cause of a stream cancelled by the idle timer.
var errIdle = errors.New("llm: no chunk within the idle timeout")

// Stream implements hxchat.Provider. See the package documentation for
// the errors it yields.
func (p *chatProvider) Stream(ctx context.Context, req hxchat.ChatRequest) iter.Seq2[hxchat.Delta, error] {
	return func(yield func(hxchat.Delta, error) bool) {
		sctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)

		// The request is retried here rather than in the SDK, which cannot
		// say that it waits: the user sees each wait in the answer.
		var res *http.Response // kept even when the error body is not OpenAI's shape
		for attempt := 0; ; attempt++ {
			st := p.svc.NewStreaming(sctx, p.params(req), option.WithResponseInto(&res),
				option.WithHeader("X-Stainless-Retry-Count", strconv.Itoa(attempt)))
			err := st.Err()
			if err == nil {
				break
			}
			st.Close()
			mapped := p.mapError(ctx, sctx, err, res, false)
			wait, again := p.retryWait(mapped, res, attempt)
			if !again {
				yield(hxchat.Delta{}, mapped)
				return
			}
			retry := &hxchat.Retry{Code: hxchat.Code(mapped), After: wait, Attempt: attempt + 2, Of: p.retries + 1, Err: mapped}
			if !yield(hxchat.Delta{Retry: retry}, nil) {
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				yield(hxchat.Delta{}, ctxError(ctx))
				return
			}
		}
		// The SDK's stream decodes each chunk into openai.ChatCompletionChunk,
		// whose decoder keeps every field's raw JSON: several times the work
		// of the fields an answer needs, on every token. The same response is
		// read with the SDK's own SSE decoder into a chunk of just those.
		st := ssestream.NewStream[chunk](ssestream.NewDecoder(res), nil)
		defer st.Close() // closes the response body

		// The idle timer runs only while waiting for the next chunk, not
		// while the caller handles one.
		var idle *time.Timer
		if p.idle > 0 {
			idle = time.AfterFunc(p.idle, func() { cancel(errIdle) })
			defer idle.Stop()
		}
		finished := false
		for {
			if idle != nil {
				idle.Reset(p.idle)
			}
			ok := st.Next()
			if idle != nil {
				idle.Stop()
			}
			if !ok {
				break
			}
			d, done := delta(st.Current())
			finished = finished || done
			if d == (hxchat.Delta{}) {
				continue // Azure annotations, role-only chunks, keep-alives
			}
			if !yield(d, nil) {
				return
			}
		}

		err := st.Err()
		switch {
		case err == nil && finished:
			return
		case err == nil:
			err = errNoFinish
		case finished && ctx.Err() == nil:
			// The answer is complete; only what follows it (usage, [DONE]) is lost.
			if p.log != nil {
				p.log.Warn("llm: stream failed after the answer ended", "provider", p.name, "error", p.mapError(ctx, sctx, err, res, true))
			}
			return
		}
		yield(hxchat.Delta{}, p.mapError(ctx, sctx, err, res, true))
	}
}

// errNoFinish is the cause of an answer whose stream ended cleanly but
// without a finish reason.
var errNoFinish = errors.New("llm: the stream ended without a finish reason")

// params builds the request: the system prompt, then the history.
func (p *chatProvider) params(req hxchat.ChatRequest) openai.ChatCompletionNewParams {
	msgs := make([]openai.ChatCompletionMessageParamUnion, 0, len(req.Messages)+1)
	if req.System != "" {
		msgs = append(msgs, openai.SystemMessage(req.System))
	}
	for _, t := range req.Messages {
		if t.Role == hxchat.RoleAssistant {
			msgs = append(msgs, openai.AssistantMessage(t.Content))
		} else {
			msgs = append(msgs, openai.UserMessage(t.Content))
		}
	}
	return openai.ChatCompletionNewParams{
		Model:         p.model,
		Messages:      msgs,
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
}

// chunk is what hxchat reads of a chat.completion.chunk (the SDK's
// openai.ChatCompletionChunk has the whole shape).
type chunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
			Refusal string `json:"refusal"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
}

// delta turns a chunk into a Delta, and reports whether it carries a finish
// reason. Azure's annotation chunks have no choices, or a choice without a
// delta; a usage chunk has no choices.
func delta(c chunk) (d hxchat.Delta, finished bool) {
	if len(c.Choices) > 0 {
		ch := c.Choices[0]
		d.Text = ch.Delta.Content + ch.Delta.Refusal
		d.FinishReason = ch.FinishReason
	}
	if c.Usage != nil {
		d.Usage = &hxchat.Usage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens}
	}
	return d, d.FinishReason != ""
}
