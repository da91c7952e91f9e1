package web

import (
	"context"
	"net/http"
	"time"

	"github.com/hxchat/hxchat"
)

// readyTimeout bounds the store's answer to a readiness check: a load
// balancer's probe usually gives up after a few seconds, and a store that
// needs longer for an empty query is not ready for users either.
const readyTimeout = 2 * time.Second

// Drain makes /readyz answer 503 from now on, so that load balancers send
// this process no new requests while it shuts down. It is the first step of
// a shutdown; the server goes on serving what it is asked meanwhile.
func (s *Server) Drain() { s.draining.Store(true) }

// ready answers the readiness check, GET /readyz: 200 when the process is
// not draining and its store answers a query (when the store can tell: an
// hxchat.Pinger), else 503 with the reason in one line. /healthz, by
// contrast, says only that the process is alive.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("draining\n"))
		return
	}
	if p, ok := s.o.Store.(hxchat.Pinger); ok {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			// The error may name the database's host: the log has it,
			// the answer does not.
			s.logger(r).Warn("not ready: the store does not answer", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("store not answering\n"))
			return
		}
	}
	w.Write([]byte("ready\n"))
}
