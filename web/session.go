package web

import (
	"context"
	"net/http"
	"sync"

	"github.com/hxchat/hxchat"
)

// cookieName is the session cookie. Its value is an id the server made with
// crypto/rand and recorded in the store; any other value is ignored.
const cookieName = "hxchat_session"

type sessionKey struct{}

// sessions puts the request's session id in its context when the cookie
// carries one that the server issued. A request without one gets a session
// only when it needs one (see ensureSession), so crawlers and health checks
// do not fill the store.
func (s *Server) sessions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(cookieName); err == nil && hxchat.ValidID(c.Value) {
			ok := s.knownSessions.has(c.Value)
			if !ok {
				if ok, err = s.o.Store.SessionExists(r.Context(), c.Value); err != nil {
					s.writeError(w, r, err)
					return
				}
				if ok {
					s.knownSessions.add(c.Value)
				}
			}
			if ok {
				r = withSession(r, c.Value)
			}
		}
		next.ServeHTTP(w, r)
	})
}

func withSession(r *http.Request, id string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), sessionKey{}, id))
}

// sessionID returns the request's session id, or "" when it has none.
func sessionID(r *http.Request) string {
	id, _ := r.Context().Value(sessionKey{}).(string)
	return id
}

// ensureSession returns the request with a session: its own, or a new one
// whose cookie it sets. A new session is recorded with its first
// conversation (Store.StartTurn), in the same transaction; until then the
// id is only in the cookie, and a request that brings it back before that
// gets another.
func (s *Server) ensureSession(w http.ResponseWriter, r *http.Request) *http.Request {
	if sessionID(r) != "" {
		return r
	}
	id := hxchat.NewID()
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    id,
		Path:     "/",
		MaxAge:   400 * 24 * 60 * 60, // the longest browsers keep
		HttpOnly: true,
		Secure:   s.https(r),
		SameSite: http.SameSiteLaxMode,
	})
	return withSession(r, id)
}

// knownSessions remembers ids that the store said it issued, so that a
// browser's requests after its first (the stream of every answer, each
// message) do not each ask the store again. The store never forgets a
// session (there is no way to delete one), so what is remembered stays
// true; an id the store does not know is never remembered, and is asked
// about every time.
//
// It remembers in two generations, as the highlighter does: ids go to the
// new one, an id found in the old one moves to the new one, and when the
// new one is full it becomes the old one and the old one is forgotten. The
// browsers in use stay; the memory is bounded.
type sessionSet struct {
	mu       sync.Mutex
	cur, old map[string]struct{}
}

// sessionSetMax bounds each generation of a sessionSet: 16,384 ids of 26
// bytes, about 1.5 MB for both generations when full.
const sessionSetMax = 1 << 14

// has reports whether id is remembered.
func (k *sessionSet) has(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.cur[id]; ok {
		return true
	}
	if _, ok := k.old[id]; ok {
		k.addLocked(id)
		return true
	}
	return false
}

// add remembers id, which the store has.
func (k *sessionSet) add(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.addLocked(id)
}

func (k *sessionSet) addLocked(id string) {
	if k.cur == nil || len(k.cur) >= sessionSetMax {
		k.old, k.cur = k.cur, make(map[string]struct{}, min(len(k.cur), sessionSetMax))
	}
	k.cur[id] = struct{}{}
}
