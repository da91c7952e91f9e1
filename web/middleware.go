package web

import (
	"net/http"
	"runtime/debug"
	"time"
)

// securityHeaders sets the headers every response carries: a strict
// Content-Security-Policy (scripts and styles only from this origin, no
// inline code, no framing), no MIME sniffing, no referrer to other sites, no
// powerful browser features, and HSTS when the request came over TLS. The
// sign-out form may lead to the OIDC provider's end-session endpoint (the
// browser applies form-action to the redirect too).
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	formAction := "'self'"
	if o := s.o.SignIn.OIDC; s.o.SignIn.Mode == AuthOIDC && o != nil && o.endSessionOrigin() != "" {
		formAction += " " + o.endSessionOrigin()
	}
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action " + formAction + "; frame-ancestors 'none'"
	// The values are made once and shared by every response (see
	// headerValue), not made again by Header.Set at every request.
	cspV := headerValue(csp)
	nosniff := headerValue("nosniff")
	referrer := headerValue("same-origin")
	frames := headerValue("DENY")
	permissions := headerValue("camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()")
	hsts := headerValue("max-age=31536000")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Security-Policy"] = cspV
		h["X-Content-Type-Options"] = nosniff
		h["Referrer-Policy"] = referrer
		h["X-Frame-Options"] = frames
		h["Permissions-Policy"] = permissions
		if s.https(r) {
			h["Strict-Transport-Security"] = hsts
		}
		next.ServeHTTP(w, r)
	})
}

// headerValue returns a header's value for responses to share: set with
// h[key] = v, key in its canonical form, it is what h.Set(key, value) would
// set, without a new slice. Its capacity is its length, so that h.Add
// appends to a copy; nothing in hxchat or net/http writes into a header's
// values in place.
func headerValue(value string) []string { return []string{value} }

// bodyDeadline gives a request that sends a body (a form, or anything with a
// body, even a GET: the server reads it before it answers) a limited time to
// send it, so a client cannot hold a connection by trickling bytes. Event
// streams send none and are not limited; http.Server's own ReadTimeout would
// cut them, so it stays unset.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead || r.ContentLength != 0 {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.o.BodyTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic in a handler into a logged 500, so one bad
// request cannot take the process down.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
