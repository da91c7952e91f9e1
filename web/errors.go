package web

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hxchat/hxchat"
)

// handlerFunc is a handler that returns its error instead of writing it, so
// that one place decides status, page and log line.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc to http.Handler.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// localError is an error of the web layer whose message is a catalogue key
// (with its arguments), shown in the reader's language.
type localError struct {
	code       hxchat.ErrorCode
	key        string
	args       []any
	argsFor    func(*locale) []any // when set, the arguments in the reader's language
	retryAfter time.Duration       // sent as Retry-After when set
}

func (e *localError) Error() string { return string(e.code) + ": " + e.key }

// userError returns an error whose message for users is the catalogue's
// message key, formatted with args.
func userError(code hxchat.ErrorCode, key string, args ...any) error {
	return &localError{code: code, key: key, args: args}
}

// codeOf is hxchat.Code that also knows the web layer's own errors.
func codeOf(err error) hxchat.ErrorCode {
	if e, ok := errors.AsType[*localError](err); ok {
		return e.code
	}
	return hxchat.Code(err)
}

// localMessage returns the message of err for users in language l: the web
// layer's own errors say what they are; any other error says what its code
// means (the domain's messages are English, for logs).
func localMessage(l *locale, err error) string {
	if e, ok := errors.AsType[*localError](err); ok {
		if e.argsFor != nil {
			return l.T(e.key, e.argsFor(l)...)
		}
		return l.T(e.key, e.args...)
	}
	return codeText(l, hxchat.Code(err), 0)
}

// codeText says in language l what an error code means for the user, and
// what to do: the one way pages and answers put an error into words. For a
// rate limit, retryIn is the seconds the service asked to wait (0: it did
// not say). Every code has its message (hxchat.ErrorCodes, TestErrorWords).
func codeText(l *locale, code hxchat.ErrorCode, retryIn int) string {
	if code == hxchat.ERateLimited && retryIn > 0 {
		return l.T("error.code.rate_limited_in", retryIn)
	}
	if _, ok := l.msgs["error.code."+string(code)]; !ok {
		code = hxchat.EInternal
	}
	return l.T("error.code." + string(code))
}

// retryAfterOf returns when err says to try again; 0 when it does not.
func retryAfterOf(err error) time.Duration {
	if e, ok := errors.AsType[*localError](err); ok {
		return e.retryAfter
	}
	if e, ok := errors.AsType[*hxchat.Error](err); ok {
		return e.RetryAfter
	}
	return 0
}

// statusOf maps an error code to its HTTP status.
func statusOf(code hxchat.ErrorCode) int {
	switch code {
	case hxchat.ENotFound:
		return http.StatusNotFound
	case hxchat.EInvalid:
		return http.StatusBadRequest
	case hxchat.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case hxchat.EConflict:
		return http.StatusConflict
	case hxchat.ERateLimited, hxchat.ETooMany:
		return http.StatusTooManyRequests
	case hxchat.EShutdown:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers with the error's status and safe message: for htmx, a
// fragment retargeted to the page's alert area (so that the conversation and
// the text in the message box stay as they are); otherwise a small page.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := codeOf(err)
	status := statusOf(code)
	l := s.locales.pick(r)
	msg := localMessage(l, err)
	if code == hxchat.EInternal {
		s.logger(r).Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.logger(r).Debug("request refused", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if wait := retryAfterOf(err); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Retarget", "#alert")
		w.Header().Set("HX-Reswap", "innerHTML")
		s.tpl.write(w, status, l, "alert", alertView{Message: msg})
		return
	}
	p := s.basePage(r)
	p.NoComposer = true
	s.tpl.write(w, status, l, "error.html", errorPage{Page: p, Status: status, Message: msg})
}
