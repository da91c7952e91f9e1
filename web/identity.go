package web

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"net/http"
	"net/netip"
	"strings"
)

// The sign-in modes of SignIn.Mode.
const (
	AuthNone  = "none"  // anonymous browser sessions (also "")
	AuthProxy = "proxy" // a trusted reverse proxy signed people in
	AuthOIDC  = "oidc"  // hxchat signs people in with OpenID Connect
)

// SignIn says how people sign in. The zero value is anonymous browser
// sessions.
type SignIn struct {
	Mode string
	// TrustedProxies are the peer addresses whose sign-in headers are
	// believed in proxy mode; a request from any other address is refused.
	TrustedProxies []netip.Prefix
	// SignOutURL is the proxy's sign-out URL, linked from the page in proxy
	// mode ("" shows no link).
	SignOutURL string
	// AdminGroup is, in proxy mode, the group whose members are
	// administrators ("": nobody is).
	AdminGroup string
	// OIDC signs people in in oidc mode (see NewOIDC).
	OIDC *OIDC
}

// users reports whether people sign in: conversations then belong to a
// user, not to a browser.
func (si SignIn) users() bool { return si.Mode == AuthProxy || si.Mode == AuthOIDC }

// Identity is a signed-in person.
type Identity struct {
	// Source and Subject say who it is, stably: the same person always has
	// the same pair, on any device. Source is "proxy" or "oidc"; Subject
	// is, behind a proxy, the email in lower case (or else the user name),
	// and with OIDC the issuer and the token's sub.
	Source, Subject string
	Email, Name     string
	Groups          []string
	Admin           bool
}

// Display is what the page calls the person: the name, else the email, else
// the subject.
func (id *Identity) Display() string {
	switch {
	case id.Name != "":
		return id.Name
	case id.Email != "":
		return id.Email
	}
	return id.Subject
}

// ownerKey is the owner of the person's conversations in the store, in
// place of a browser session id: "u:" and 26 base32 letters of the SHA-256
// of Source and Subject. It never has the shape of a session id
// (hxchat.ValidID), so no cookie can name it, and it says nothing of the
// person in the database.
func (id *Identity) ownerKey() string {
	sum := sha256.Sum256([]byte(id.Source + "\x00" + id.Subject))
	return "u:" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:26]
}

type identityKey struct{}

// withIdentity returns the request with the signed-in person, whose
// conversations are the owner key's.
func withIdentity(r *http.Request, id *Identity) *http.Request {
	ctx := context.WithValue(r.Context(), identityKey{}, id)
	return withSession(r.WithContext(ctx), id.ownerKey())
}

// identityOf returns the signed-in person, or nil.
func identityOf(r *http.Request) *Identity {
	id, _ := r.Context().Value(identityKey{}).(*Identity)
	return id
}

// who puts who is asking in the request: a signed-in person in proxy and
// oidc mode, or else the browser's session.
func (s *Server) who(next http.Handler) http.Handler {
	switch s.o.SignIn.Mode {
	case AuthProxy:
		return s.proxyUsers(next)
	case AuthOIDC:
		return s.oidcUsers(next)
	}
	return s.sessions(next)
}

// refuseSignIn answers a request whose person is not known, or not let in,
// with status and a page that says why and what to do (the message key),
// and logs it with reason. With link set the page offers it (to sign in
// again), else the way back.
func (s *Server) refuseSignIn(w http.ResponseWriter, r *http.Request, status int, key, reason string, link string) {
	s.logger(r).Warn("sign-in refused", "reason", reason, "method", r.Method, "path", r.URL.Path,
		"peer", r.RemoteAddr, "mode", s.o.SignIn.Mode)
	l := s.locales.pick(r)
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Retarget", "#alert")
		w.Header().Set("HX-Reswap", "innerHTML")
		s.tpl.write(w, status, l, "alert", alertView{Message: l.T(key)})
		return
	}
	p := s.page(r)
	p.NoComposer, p.NoSidebar = true, true
	e := errorPage{Page: p, Status: status, Message: l.T(key)}
	if link != "" {
		e.Link, e.LinkText = link, l.T("signin.again")
	}
	s.tpl.write(w, status, l, "error.html", e)
}
