package web

import (
	"errors"
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
	case hxchat.ERateLimited:
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
	code := hxchat.Code(err)
	status := statusOf(code)
	msg := hxchat.SafeMessage(err)
	if code == hxchat.EInternal {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = hxchat.SafeMessage(nil)
	} else {
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var e *hxchat.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Round(time.Second)/time.Second)))
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Retarget", "#alert")
		w.Header().Set("HX-Reswap", "innerHTML")
		s.tpl.write(w, status, "alert", alertView{Message: msg})
		return
	}
	s.tpl.write(w, status, "error.html", errorPage{Page: s.basePage(r), Status: status, Message: msg})
}
