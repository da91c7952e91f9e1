package web

import "net/http"

// authRoutes adds the routes of hxchat's own sign-in (oidc mode), which
// come before anybody is known.
func (s *Server) authRoutes(mux *http.ServeMux) {}

// oidcUsers is replaced with OpenID Connect sign-in.
func (s *Server) oidcUsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.refuseSignIn(w, r, http.StatusForbidden, "signin.missing", "oidc is not built yet", "")
	})
}

// OIDC signs people in with an OpenID Connect provider.
type OIDC struct{}
