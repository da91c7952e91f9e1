package llm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/hxchat/hxchat"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/tidwall/gjson"
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
//
// The answer's goroutine, which iterates, spends its life waiting in read
// for the next chunk, and keeps its stack as long as it lives: the stack
// grows to what its deepest call needed, and the garbage collector halves
// it only while less than a quarter of it is in use. So the request is sent
// from a goroutine of its own (send): the SDK's encoding of the request,
// through reflection, is deeper than anything that follows, and made every
// answer's stack 16 or 32 KiB where reading and rendering fit in 8. And the
// request (open) and the reading of its response (read) are functions of
// their own, so that the request's locals (the SDK's parameters alone take a
// kilobyte) are not on the stack while it waits.
func (p *chatProvider) Stream(ctx context.Context, req hxchat.ChatRequest) iter.Seq2[hxchat.Delta, error] {
	return func(yield func(hxchat.Delta, error) bool) {
		sctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		if res := p.open(ctx, sctx, req, yield); res != nil {
			p.read(ctx, sctx, cancel, res, yield)
		}
	}
}

// open sends the request, retrying it as retryWait says, and returns the
// response whose event stream is to be read; nil once it has yielded the
// error that ends the answer, or the caller stopped.
func (p *chatProvider) open(ctx, sctx context.Context, req hxchat.ChatRequest, yield func(hxchat.Delta, error) bool) *http.Response {
	// The request is retried here rather than in the SDK, which cannot
	// say that it waits: the user sees each wait in the answer.
	for attempt := 0; ; attempt++ {
		res, err := p.send(sctx, req, attempt)
		if err == nil {
			return res
		}
		mapped := p.mapError(ctx, sctx, err, res, false)
		wait, again := p.retryWait(mapped, res, attempt)
		if !again {
			yield(hxchat.Delta{}, mapped)
			return nil
		}
		retry := &hxchat.Retry{Code: hxchat.Code(mapped), After: wait, Attempt: attempt + 2, Of: p.retries + 1, Err: mapped}
		if res != nil {
			retry.Status = res.StatusCode
		}
		if !yield(hxchat.Delta{Retry: retry}, nil) {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			yield(hxchat.Delta{}, ctxError(ctx))
			return nil
		}
	}
}

// send sends the request (its attempt-th retry; 0 for the first) and
// returns its response, whose body is the event stream to read when err is
// nil. The response is kept with an error too, even when the error's body
// is not OpenAI's shape. The request is sent from a goroutine of its own,
// which ends with it: its deep calls grow that goroutine's stack, not the
// caller's, which waits for the response (see Stream).
func (p *chatProvider) send(sctx context.Context, req hxchat.ChatRequest, attempt int) (*http.Response, error) {
	type result struct {
		res *http.Response
		err error
	}
	done := make(chan result, 1)
	go func() {
		var res *http.Response
		st := p.svc.NewStreaming(sctx, p.params(req), option.WithResponseInto(&res),
			option.WithHeader("X-Stainless-Retry-Count", strconv.Itoa(attempt)))
		err := st.Err()
		if err != nil {
			st.Close()
		}
		done <- result{res, err}
	}()
	r := <-done
	return r.res, r.err
}

// read yields the deltas of the response's event stream, then the error
// that ended it, if any. cancel cancels sctx, the request's context.
func (p *chatProvider) read(ctx, sctx context.Context, cancel context.CancelCauseFunc, res *http.Response, yield func(hxchat.Delta, error) bool) {
	// The SDK's stream decodes each chunk into openai.ChatCompletionChunk
	// with encoding/json: several times the work of the few fields an
	// answer needs, on every token. The response is read with an
	// eventReader, which reads the SDK's events without allocating, and
	// each chunk with gjson (see decodeChunk).
	dec := newEventReader(res.Body)
	defer res.Body.Close()

	// The idle timer runs only while waiting for the next chunk, not
	// while the caller handles one.
	var idle *time.Timer
	if p.idle > 0 {
		idle = time.AfterFunc(p.idle, func() { cancel(errIdle) })
		defer idle.Stop()
	}
	finished := false
	var err error
	for {
		if idle != nil {
			idle.Reset(p.idle)
		}
		ok := dec.Next()
		if idle != nil {
			idle.Stop()
		}
		if !ok {
			err = dec.Err()
			break
		}
		ev := ssestream.Event{Type: dec.typ, Data: dec.Data()}
		if bytes.HasPrefix(ev.Data, []byte("[DONE]")) {
			drainEnd(res.Body, cancel)
			break
		}
		d, done, derr := decodeChunk(ev)
		if derr != nil {
			err = derr
			break
		}
		finished = finished || done
		if d == (hxchat.Delta{}) {
			continue // Azure annotations, role-only chunks, keep-alives
		}
		if !yield(d, nil) {
			return
		}
	}
	p.end(ctx, sctx, res, err, finished, yield)
}

// end yields the error that ended a response's event stream (err; nil at
// its clean end), if it cost the answer anything: finished tells whether
// the answer was complete.
func (p *chatProvider) end(ctx, sctx context.Context, res *http.Response, err error, finished bool, yield func(hxchat.Delta, error) bool) {
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

// drainWait bounds the wait for the end of a response after its [DONE].
const drainWait = 250 * time.Millisecond

// errDrained is the cause of a response that went on after its [DONE].
var errDrained = errors.New("llm: the response did not end after [DONE]")

// drainEnd reads what is left of a response after its [DONE] (the end of
// its chunked encoding, usually already on its way): a body closed before
// its end takes its HTTP/1.1 connection with it, and the next answer would
// dial again. A service that keeps the response open is given drainWait,
// then the request is cancelled.
func drainEnd(body io.Reader, cancel context.CancelCauseFunc) {
	t := time.AfterFunc(drainWait, func() { cancel(errDrained) })
	defer t.Stop()
	io.Copy(io.Discard, io.LimitReader(body, 64<<10))
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

// errMalformed is the cause of a chunk that is not JSON, or whose fields
// an answer reads have the wrong types.
var errMalformed = errors.New("llm: the model service sent a chunk that is not a chat.completion.chunk")

// decodeChunk reads what an answer needs of a chat.completion.chunk: the
// first choice's text (content, or refusal) and finish reason, and the usage.
// Azure's annotation chunks have no choices, or a choice without a delta; a
// usage chunk has no choices. A chunk with an "error" field is the service's
// error during the stream, as the SDK's stream reports it. ev.Data need stay
// valid only for the call: nothing returned refers to it.
//
// gjson finds these fields without building the chunk (an Azure chunk is
// about 400 bytes, mostly content-filter results); the chunk is still
// checked to be a JSON object, and each field read to have its type.
func decodeChunk(ev ssestream.Event) (d hxchat.Delta, finished bool, err error) {
	data := ev.Data
	if !gjson.ValidBytes(data) || bytes.TrimLeft(data, " \t\r\n")[0] != '{' {
		return d, false, errMalformed
	}
	// The chunk is read as a string that shares its bytes (gjson.GetBytes
	// would copy each field it finds): what is kept of it is copied below,
	// the text once, a finish reason not at all when it is a usual one.
	chunk := unsafe.String(unsafe.SliceData(data), len(data))
	// One pass over the chunk's fields finds the three an answer reads
	// (each the first of its name, as gjson.Get finds it): a path each
	// would read the chunk once a path, to its end for a field it lacks.
	var serr, choices, usage gjson.Result
	gjson.Parse(chunk).ForEach(func(key, value gjson.Result) bool {
		var f *gjson.Result
		switch key.Str {
		case "error":
			f = &serr
		case "choices":
			f = &choices
		case "usage":
			f = &usage
		default:
			return true
		}
		if !f.Exists() {
			*f = value
		}
		return true
	})
	if serr.Exists() {
		ev.Data = bytes.Clone(data)
		return d, false, &ssestream.StreamError{Message: "received error while streaming: " + serr.String(), Event: ev}
	}
	choice := choices.Get("0")
	delta := choice.Get("delta")
	content, refusal := delta.Get("content"), delta.Get("refusal")
	reason := choice.Get("finish_reason")
	if !stringOrNull(content) || !stringOrNull(refusal) || !stringOrNull(reason) {
		return d, false, errMalformed
	}
	switch {
	case refusal.Str != "":
		d.Text = content.Str + refusal.Str
	case within(content.Str, chunk):
		d.Text = strings.Clone(content.Str)
	default:
		d.Text = content.Str // unescaped by gjson: a string of its own
	}
	if !utf8.ValidString(d.Text) {
		d.Text = strings.ToValidUTF8(d.Text, "\uFFFD") // as encoding/json reads it
	}
	d.FinishReason = finishReason(reason.Str)
	switch {
	case usage.IsObject():
		prompt, completion := usage.Get("prompt_tokens"), usage.Get("completion_tokens")
		if !numberOrNull(prompt) || !numberOrNull(completion) {
			return d, false, errMalformed
		}
		d.Usage = &hxchat.Usage{PromptTokens: prompt.Int(), CompletionTokens: completion.Int()}
	case usage.Type != gjson.Null: // Null: also missing
		return d, false, errMalformed
	}
	return d, d.FinishReason != "", nil
}

// within reports whether s shares the bytes of chunk.
func within(s, chunk string) bool {
	p, c := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(chunk)))
	return len(s) > 0 && p >= c && p < c+uintptr(len(chunk))
}

// finishReason returns r, as a constant when it is one of the reasons
// OpenAI documents, else copied: it may share the chunk's bytes.
func finishReason(r string) string {
	for _, known := range [...]string{"", "stop", "length", hxchat.FinishContentFilter, "tool_calls", "function_call"} {
		if r == known {
			return known
		}
	}
	return strings.Clone(r)
}

func stringOrNull(r gjson.Result) bool {
	return r.Type == gjson.String || r.Type == gjson.Null // Null: also missing
}

func numberOrNull(r gjson.Result) bool {
	return r.Type == gjson.Number || r.Type == gjson.Null
}
