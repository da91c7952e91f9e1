package llm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// mapError turns what the SDK returned into the error Stream yields:
// ctx's own error when the caller cancelled, otherwise an *hxchat.Error.
// started tells whether the response had begun (a 200 stream).
func (p *chatProvider) mapError(ctx, sctx context.Context, err error, res *http.Response, started bool) error {
	if ctx.Err() != nil {
		return ctxError(ctx)
	}
	if context.Cause(sctx) == errIdle {
		return &hxchat.Error{Code: hxchat.ETimeout, Message: "The model service stopped sending the answer.",
			Err: fmt.Errorf("llm: no chunk for %s", p.idle)}
	}
	if ce, ok := errors.AsType[*credentialError](err); ok {
		// Nothing was sent: Entra ID gave no token (the identity lost its
		// access, the managed identity endpoint or az failed).
		return &hxchat.Error{Code: hxchat.EUpstreamAuth,
			Message: "hxchat could not sign in to the model service (Entra ID). Ask the administrator to check its Azure identity.",
			Err:     fmt.Errorf("llm: %w; %s", ce, entraFix)}
	}
	if apiErr, ok := errors.AsType[*openai.Error](err); ok {
		u := &upstreamError{Status: apiErr.StatusCode, Code: apiErr.Code, Type: apiErr.Type, Param: apiErr.Param,
			Message: apiErr.Message, err: apiErr}
		if u.Code == "" && u.Message == "" && apiErr.Response != nil {
			u.Code, u.Message = sniffBody(apiErr.Response) // no "error" object, e.g. vLLM's body
		}
		u.Message = p.redact(u.Message)
		return p.statusError(u, apiErr.Response)
	}
	if res != nil && res.StatusCode >= 400 {
		// The body is not OpenAI's {"error": {...}}: Ollama's {"error": "…"},
		// vLLM's {"message": …}, a proxy's HTML page.
		u := &upstreamError{Status: res.StatusCode, err: err}
		u.Code, u.Message = sniffBody(res)
		u.Message = p.redact(u.Message)
		return p.statusError(u, res)
	}

	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	switch {
	case timeout:
		return &hxchat.Error{Code: hxchat.ETimeout, Message: "The model service did not answer in time.", Err: err}
	case !started && isNetwork(err):
		return &hxchat.Error{Code: hxchat.EUpstream, Message: "Could not reach the model service.", Err: err}
	case !started:
		return &hxchat.Error{Code: hxchat.EUpstreamSetup, Message: "The connection to the model service is not set up correctly. Ask the administrator to check the endpoint.", Err: err}
	case errors.Is(err, errMalformed):
		return &hxchat.Error{Code: hxchat.EUpstream, Message: "The model service sent an answer that could not be read.", Err: err}
	}
	if se, ok := errors.AsType[*ssestream.StreamError](err); ok {
		return &hxchat.Error{Code: hxchat.EUpstream, Message: "The model service reported an error during the answer.",
			Err: fmt.Errorf("llm: %s", p.redact(se.Message))}
	}
	return &hxchat.Error{Code: hxchat.EUpstream, Message: "The answer was cut off: the model service stopped sending it.", Err: err}
}

// statusError maps an HTTP error status of the model service.
func (p *chatProvider) statusError(u *upstreamError, res *http.Response) *hxchat.Error {
	var hdr http.Header
	if res != nil {
		hdr = res.Header
		u.RequestID = cmp.Or(hdr.Get("X-Request-Id"), hdr.Get("Apim-Request-Id"))
	}
	e := &hxchat.Error{Err: u}
	switch s := u.Status; {
	case s == http.StatusBadRequest && u.Code == "content_filter":
		e.Code, e.Message = hxchat.EFiltered, "The model provider's content filter blocked this message. Please rephrase it."
	case (s == http.StatusBadRequest || s == http.StatusRequestEntityTooLarge) && tooLong(u):
		e.Code, e.Message = hxchat.EContextLength, "The conversation is too long for the model. Start a new conversation or shorten the message."
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		e.Code, e.Message = hxchat.EUpstreamAuth, "The model service refused our credentials. Ask the administrator to check the API key and access settings."
		u.Check = p.check.auth
	case s == http.StatusNotFound:
		e.Code, e.Message = hxchat.EUpstreamSetup, "The model service could not find the model. Ask the administrator to check the endpoint, the deployment or model name, and the API version."
		u.Check = p.check.notFound
	case s == http.StatusRequestTimeout || s == http.StatusGatewayTimeout:
		e.Code, e.Message = hxchat.ETimeout, "The model service did not answer in time."
	case s == http.StatusTooManyRequests && u.Code == "insufficient_quota":
		e.Code, e.Message = hxchat.EQuota, "The model service's quota is used up. Ask the administrator to check the plan or billing."
	case s == http.StatusTooManyRequests:
		e.Code, e.RetryAfter = hxchat.ERateLimited, retryAfter(hdr)
		e.Message = "The model service is busy (rate limit). Please try again in a moment."
		if e.RetryAfter > 0 {
			e.Message = fmt.Sprintf("The model service is busy (rate limit). Please try again in %d seconds.", int(math.Ceil(e.RetryAfter.Seconds())))
		}
	case s >= 500:
		e.Code, e.Message = hxchat.EUpstream, "The model service had an error. Please try again."
	default:
		e.Code, e.Message = hxchat.EUpstreamSetup, "The model service rejected the request. Ask the administrator to check the model settings."
	}
	return e
}

// upstreamError is the technical cause of an HTTP error, for the log. It
// holds the service's message with the API key redacted.
type upstreamError struct {
	Status                     int
	Code, Type, Param, Message string
	RequestID                  string
	Check                      string // the settings to check, if they are the likely cause
	err                        error
}

func (u *upstreamError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "model service: HTTP %d", u.Status)
	for _, kv := range [][2]string{{"code", u.Code}, {"type", u.Type}, {"param", u.Param}, {"request-id", u.RequestID}} {
		if kv[1] != "" {
			fmt.Fprintf(&sb, " %s=%s", kv[0], kv[1])
		}
	}
	if u.Message != "" {
		sb.WriteString(": " + u.Message)
	}
	if u.Check != "" {
		sb.WriteString("; " + u.Check)
	}
	return sb.String()
}

func (u *upstreamError) Unwrap() error { return u.err }

// redact removes the API key from a text of the service, and shortens it.
func (p *chatProvider) redact(s string) string {
	if p.secret != "" {
		s = strings.ReplaceAll(s, p.secret, "[redacted]")
	}
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// maxRetryWait is the longest a request waits to be sent again. A service
// that asks for a longer wait gets no retry: the user sees its error, and
// when to try again.
const maxRetryWait = time.Minute

// retryWait decides whether a request that failed with err (res: the
// response, if one came) is sent again, as the SDK would: on a connection
// failure, 408, 409, 429 (not a spent quota) and 5xx, or when the service
// says x-should-retry. It waits as Retry-After or retry-after-ms say, or
// else 0.5 s, 1 s, 2 s, ... with some jitter.
func (p *chatProvider) retryWait(err error, res *http.Response, attempt int) (time.Duration, bool) {
	e, ok := errors.AsType[*hxchat.Error](err)
	if !ok || attempt >= p.retries {
		return 0, false // cancelled, or no tries left
	}
	var wait time.Duration
	if res != nil && res.StatusCode >= 400 {
		s := res.StatusCode
		if u, ok := errors.AsType[*upstreamError](err); ok && u.Code == "insufficient_quota" {
			return 0, false
		}
		switch res.Header.Get("X-Should-Retry") {
		case "false":
			return 0, false
		case "true":
		default:
			if s != http.StatusRequestTimeout && s != http.StatusConflict && s != http.StatusTooManyRequests && s < 500 {
				return 0, false
			}
		}
		wait = retryAfter(res.Header)
	} else if e.Code != hxchat.EUpstream && e.Code != hxchat.ETimeout {
		return 0, false // not a network failure: trying again would fail the same way
	}
	switch {
	case wait > maxRetryWait:
		return 0, false
	case wait == 0:
		wait = min(500*time.Millisecond<<attempt, 8*time.Second)
		wait -= rand.N(wait / 4)
	}
	return wait, true
}

// retryAfter reads retry-after-ms or Retry-After (seconds or an HTTP date).
func retryAfter(h http.Header) time.Duration {
	if v, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && v > 0 && v < 1e9 {
		return time.Duration(v * float64(time.Millisecond))
	}
	v := h.Get("Retry-After")
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 && s < 1e6 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && time.Until(t) > 0 {
		return time.Until(t)
	}
	return 0
}

// tooLong reports whether a 400 says the prompt exceeds the context window.
func tooLong(u *upstreamError) bool {
	m := strings.ToLower(u.Message)
	return u.Code == "context_length_exceeded" || u.Code == "string_above_max_length" ||
		strings.Contains(m, "context length") || strings.Contains(m, "context window")
}

// sniffBody reads code and message from an error body that is not in
// OpenAI's shape, as far as it has them.
func sniffBody(res *http.Response) (code, msg string) {
	if res.Body == nil {
		return "", ""
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	var v struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
		Detail  any    `json:"detail"`
		Code    any    `json:"code"`
	}
	if json.Unmarshal(b, &v) != nil {
		return "", "" // not JSON (an HTML error page): nothing worth logging
	}
	if s, ok := v.Error.(string); ok && v.Message == "" {
		v.Message = s
	}
	if s, ok := v.Detail.(string); ok && v.Message == "" {
		v.Message = s
	}
	if v.Code != nil {
		code = fmt.Sprint(v.Code)
	}
	return code, v.Message
}

// isNetwork reports whether err is a failure to talk to the service at all.
func isNetwork(err error) bool {
	_, isURL := errors.AsType[*url.Error](err)
	_, isOp := errors.AsType[*net.OpError](err)
	return isURL || isOp || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
