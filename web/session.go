package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

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
			if s.streamProves(r, c.Value) {
				// An answer's stream that this process runs for that
				// session: the session is proven without the store.
				next.ServeHTTP(w, withSession(r, c.Value))
				return
			}
			ok, err := s.o.Store.SessionExists(r.Context(), c.Value)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if ok {
				r = withSession(r, c.Value)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// streamProves reports whether r asks for the event stream of an answer
// that this process generates for session sid (GET
// /c/{id}/m/{mid}/events, the only route under /c/ that ends so): the
// hub's stream of the answer knows the session it was started for, which
// the store had issued (live.Stream.Answer). Every browser opens its
// answer's stream right after its message, mostly on the replica that took
// the message, and is so spared a query. Any other request, and a stream
// of an answer that runs elsewhere, asks the store.
func (s *Server) streamProves(r *http.Request, sid string) bool {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/c/") {
		return false
	}
	parts := strings.Split(r.URL.Path[len("/c/"):], "/")
	if len(parts) != 4 || parts[1] != "m" || parts[3] != "events" {
		return false
	}
	mid, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return false
	}
	st, ok := s.o.Hub.Get(mid)
	if !ok {
		return false
	}
	_, ok = st.Answer(sid, parts[0])
	return ok
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
