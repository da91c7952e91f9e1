package web

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// requestKey is the context key of a request's *requestInfo.
type requestKey struct{}

// requestInfo is what logRequests keeps of a request while it is served:
// its id, and the pattern of the route that serves it, which the muxes
// fill in (see routed).
type requestInfo struct {
	id    string
	route string
}

// statusWriter remembers the status and size of a response. Unwrap lets
// http.ResponseController reach the connection (flushes, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests gives every request an id, sent back in X-Request-Id and
// attached to every log line about it, and logs the request when it ends:
// method, path, status, size, duration and client address. Never bodies,
// query strings or cookies: messages are private. It also counts the
// request in the metrics, by the pattern of its route (never its path).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		rand.Read(b[:])
		info := &requestInfo{id: hex.EncodeToString(b[:])}
		w.Header().Set("X-Request-Id", info.id)
		r = r.WithContext(context.WithValue(r.Context(), requestKey{}, info))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("req", info.id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Int64("bytes", sw.bytes),
			slog.Duration("took", took), slog.String("client", s.clientIP(r)))
		status := sw.status
		if status == 0 {
			status = http.StatusOK // net/http's own, for a handler that wrote nothing
		}
		s.o.Metrics.Request(cmp.Or(info.route, unrouted), status, took)
	})
}

// unrouted is the route of a request that no route served: one that no
// pattern matches (404, 405), or that was refused before the muxes
// (cross-origin protection).
const unrouted = "unmatched"

// routed serves a request with mux and notes the pattern that served it for
// logRequests: ServeMux sets Request.Pattern on the request it is given, and
// each WithContext between logRequests and the mux makes a new request,
// whose Pattern logRequests does not see. Of nested muxes the innermost
// that routes the request is noted: it returns first. A pattern that does
// not match (the mux's own 404 or 405) is noted as none, so that an outer
// mux's catch-all does not take its place.
func routed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { // also when a handler panics: the pattern is set before it runs
			if info, ok := r.Context().Value(requestKey{}).(*requestInfo); ok && info.route == "" {
				info.route = cmp.Or(r.Pattern, unrouted)
			}
		}()
		mux.ServeHTTP(w, r)
	})
}

// requestID returns the id that logRequests gave the request, or "".
func requestID(r *http.Request) string {
	if info, ok := r.Context().Value(requestKey{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// logger returns the server's logger with the request's id.
func (s *Server) logger(r *http.Request) *slog.Logger {
	if id := requestID(r); id != "" {
		return s.log.With("req", id)
	}
	return s.log
}

// clientIP is the address of the client: the connection's peer, or, behind
// a trusted proxy, the first address of X-Forwarded-For.
func (s *Server) clientIP(r *http.Request) string {
	if s.o.TrustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			return strings.TrimSpace(first)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// https reports whether the browser reached hxchat over HTTPS: directly, or
// through a trusted proxy that says so in X-Forwarded-Proto.
func (s *Server) https(r *http.Request) bool {
	return r.TLS != nil || s.o.TrustProxy && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
