package hxchat

import (
	"errors"
	"fmt"
	"time"
)

// ErrorCode classifies an error so that the web layer can map it to an HTTP
// status and the page to a message the user understands, without parsing text.
type ErrorCode string

// Error codes. The upstream ones are stored with a failed answer.
const (
	ENotFound ErrorCode = "not_found" // no such thing, or not yours
	EInvalid  ErrorCode = "invalid"   // the request is malformed
	ETooLarge ErrorCode = "too_large" // the request is over a size limit
	EConflict ErrorCode = "conflict"  // the thing is in a state that forbids the action
	ETooMany  ErrorCode = "too_many"  // over a limit of concurrent work; try again later
	EInternal ErrorCode = "internal"  // a bug or a failed dependency of ours

	EUpstream      ErrorCode = "upstream"       // the model API failed: network, 5xx, bad stream
	EUpstreamAuth  ErrorCode = "upstream_auth"  // 401/403: the key or identity is refused
	EUpstreamSetup ErrorCode = "upstream_setup" // 404/400: endpoint, deployment, model or api-version wrong
	ERateLimited   ErrorCode = "rate_limited"   // 429 from the model API
	EFiltered      ErrorCode = "content_filter" // the provider's content filter stopped the prompt
	EFilteredReply ErrorCode = "content_filter_reply"
	ETimeout       ErrorCode = "timeout"        // no answer in time
	EShutdown      ErrorCode = "shutdown"       // the server stopped before the answer ended
	EContextLength ErrorCode = "context_length" // the conversation is longer than the model takes
	EQuota         ErrorCode = "quota"          // the model service's quota or credit is spent
)

// ErrorCodes lists every code: each has a message of its own in every
// language of the page (web's catalogues, which a test checks).
var ErrorCodes = []ErrorCode{
	ENotFound, EInvalid, ETooLarge, EConflict, ETooMany, EInternal,
	EUpstream, EUpstreamAuth, EUpstreamSetup, ERateLimited, EFiltered, EFilteredReply,
	ETimeout, EShutdown, EContextLength, EQuota,
}

// Error is an error with a code and a message that is safe to show to users.
// The wrapped error carries the technical reason, for the log only.
type Error struct {
	Code       ErrorCode
	Message    string        // safe to show; never contains keys or upstream bodies
	RetryAfter time.Duration // when the upstream said when to try again
	Err        error         // the cause, for logs
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a code and a formatted safe message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrNotFound is returned by stores for a missing row, and by the web layer
// for anything the session does not own.
var ErrNotFound = &Error{Code: ENotFound, Message: "Not found."}

// Code returns the code of the first *Error in err's chain, EInternal for any
// other non-nil error, and "" for nil.
func Code(err error) ErrorCode {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EInternal
}

// SafeMessage returns the user-facing message of err's *Error, or a generic
// one that reveals nothing.
func SafeMessage(err error) string {
	if e, ok := errors.AsType[*Error](err); ok && e.Message != "" {
		return e.Message
	}
	return "Something went wrong on our side. Please try again."
}
