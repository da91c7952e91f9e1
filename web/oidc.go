package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/hxchat/hxchat"
)

// Cookies of oidc mode.
const (
	// signInCookie holds the id of a server-side sign-in session.
	signInCookie = "hxchat_signin"
	// flowCookie holds the state of a sign-in on its way through the
	// provider, binding it to the browser that started it.
	flowCookie = "hxchat_oidc_state"
)

const (
	// signInTTL is how long a sign-in lasts; then the person signs in again
	// (at the provider, often without typing anything).
	signInTTL = 12 * time.Hour
	// flowTTL is how long a sign-in may take at the provider.
	flowTTL = 10 * time.Minute
	// purgeEvery is how often at most a process deletes the expired flows
	// and sessions from the store, when a sign-in starts.
	purgeEvery = time.Minute
)

// OIDCOptions configures NewOIDC.
type OIDCOptions struct {
	Issuer, ClientID, ClientSecret string
	// RedirectURL is hxchat's public URL of /auth/callback.
	RedirectURL string
	// AllowedDomains (email domains, lower case) and AllowedGroups (groups
	// or app roles), when not empty, are who may sign in.
	AllowedDomains, AllowedGroups []string
	// AdminGroup is the group or app role of administrators.
	AdminGroup string
	// Scopes are requested besides openid, profile and email.
	Scopes []string
	// GraphURL is the root of Microsoft Graph, asked for the groups of a
	// person whose ID token has too many to list (Entra ID's groups
	// overage) when AllowedGroups or AdminGroup depend on them ("": Azure's
	// global cloud, https://graph.microsoft.com).
	GraphURL string
	// HTTPClient reaches the provider (nil: http.DefaultClient).
	HTTPClient *http.Client
	// Store keeps the sign-ins on their way and the sessions, so that every
	// replica knows them and a restart keeps them (required).
	Store hxchat.SignInStore
}

// OIDC signs people in with an OpenID Connect provider: the authorization
// code flow with PKCE, state and nonce, the ID token verified with the
// provider's keys, and a server-side session per sign-in.
//
// Both the sign-ins on their way (state, nonce, PKCE verifier) and the
// sessions live in the store, not in the process: a callback may reach
// another replica than the one that sent the browser to the provider, and
// a restart signs nobody out. The store, not a signed cookie, keeps the
// flow because it takes a flow once, atomically, whichever replica asks
// (a replayed callback finds nothing), and because it needs no key that
// every replica must share. Cookies hold random ids; the store holds their
// SHA-256 only.
type OIDC struct {
	o          OIDCOptions
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string // the provider's end_session_endpoint, if any
	now        func() time.Time
	purged     atomic.Int64 // when this process last deleted expired sign-ins (unix ns)
}

// NewOIDC reads the provider's discovery document. An issuer that does not
// answer, or whose document names another issuer, is an error.
func NewOIDC(ctx context.Context, o OIDCOptions) (*OIDC, error) {
	keysCtx := context.Background() // the key set outlives ctx: it fetches new keys when they rotate
	if o.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, o.HTTPClient)
		keysCtx = oidc.ClientContext(keysCtx, o.HTTPClient)
	}
	if o.Store == nil {
		return nil, errors.New("OIDC: no store for the sign-ins")
	}
	p, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("OIDC provider %s: %w", o.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("OIDC provider %s: %w", o.Issuer, err)
	}
	return &OIDC{
		o: o,
		oauth: oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
			Endpoint: p.Endpoint(), Scopes: slices.Concat([]string{oidc.ScopeOpenID, "profile", "email"}, o.Scopes)},
		verifier:   p.VerifierContext(keysCtx, &oidc.Config{ClientID: o.ClientID}),
		endSession: meta.EndSession,
		now:        time.Now,
	}, nil
}

// endSessionOrigin is the origin of the provider's end-session endpoint,
// or "".
func (o *OIDC) endSessionOrigin() string {
	u, err := url.Parse(o.endSession)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// randomToken is 256 random bits, as text.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// storeKey is what the store keeps of a state or a session id: its
// SHA-256, so that reading the database gives nothing a browser could send.
func storeKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// authRoutes adds the routes of hxchat's own sign-in, which come before
// anybody is known; only in oidc mode.
func (s *Server) authRoutes(mux *http.ServeMux) {
	if s.o.SignIn.Mode != AuthOIDC {
		return
	}
	mux.Handle("GET /auth/signin", s.limitRequests(http.HandlerFunc(s.signIn)))
	mux.Handle("GET /auth/callback", s.limitRequests(http.HandlerFunc(s.signInCallback)))
	mux.Handle("POST /auth/signout", s.limitRequests(http.HandlerFunc(s.signOut)))
	mux.Handle("GET /auth/signedout", s.limitRequests(http.HandlerFunc(s.signedOut)))
}

// oidcUsers takes the person from the sign-in cookie's server-side
// session. Without one, a page is sent to sign in first; anything else gets
// 401 and a message to reload (htmx follows HX-Redirect).
func (s *Server) oidcUsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.o.SignIn.OIDC.identity(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if id != nil {
			next.ServeHTTP(w, withIdentity(r, id))
			return
		}
		if r.Method == http.MethodGet && r.Header.Get("HX-Request") != "true" {
			http.Redirect(w, r, "/auth/signin?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
			return
		}
		// Back to the page that sent the request, not to the fragment
		// it asked for.
		next := "/"
		if u, err := url.Parse(r.Header.Get("HX-Current-URL")); err == nil {
			next = localPath(u.Path)
		}
		target := "/auth/signin?next=" + url.QueryEscape(next)
		w.Header().Set("HX-Redirect", target)
		s.refuseSignIn(w, r, http.StatusUnauthorized, "signin.expired", "not signed in", target)
	})
}

// identity returns the person of the request's sign-in session, or nil
// when it has none (or it expired, or was signed out).
func (o *OIDC) identity(r *http.Request) (*Identity, error) {
	sess, err := o.session(r)
	if sess == nil {
		return nil, err
	}
	return &Identity{Source: sess.Source, Subject: sess.Subject, Email: sess.Email, Name: sess.Name, Admin: sess.Admin}, nil
}

// session returns the request's sign-in session, or nil.
func (o *OIDC) session(r *http.Request) (*hxchat.SignInSession, error) {
	c, err := r.Cookie(signInCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, err := o.o.Store.SignInSession(r.Context(), storeKey(c.Value), o.now())
	if hxchat.Code(err) == hxchat.ENotFound {
		return nil, nil
	}
	return sess, err
}

// purgeSignIns deletes the expired flows and sessions from the store, at most
// once every purgeEvery in this process; a failure is only logged, since
// the store never returns an expired one.
func (s *Server) purgeSignIns(r *http.Request) {
	o := s.o.SignIn.OIDC
	now := o.now()
	last := o.purged.Load()
	if now.UnixNano()-last < int64(purgeEvery) || !o.purged.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if _, err := o.o.Store.DeleteExpiredSignIns(r.Context(), now); err != nil {
		s.logger(r).Warn("deleting expired sign-ins", "err", err)
	}
}

// signIn starts a sign-in: a new state, nonce and PKCE verifier, kept in
// the store under the state's hash, which a cookie binds to this browser;
// then off to the provider.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	o := s.o.SignIn.OIDC
	s.purgeSignIns(r)
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	f := &hxchat.SignInFlow{Key: storeKey(state), Nonce: nonce, Verifier: verifier,
		Next: localPath(r.URL.Query().Get("next")), Expires: o.now().Add(flowTTL)}
	if err := o.o.Store.StartSignIn(r.Context(), f); err != nil {
		s.writeError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: state, Path: "/auth/", MaxAge: int(flowTTL.Seconds()),
		HttpOnly: true, Secure: s.https(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, o.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusSeeOther)
}

// localPath returns p if it is a path of this site, else "/": the page to
// go to after signing in is never another site.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.HasPrefix(p, "/auth/") {
		return "/"
	}
	return p
}

// signInCallback finishes a sign-in: the state must be the one this
// browser started and not used yet; the code is exchanged with the PKCE
// verifier; the ID token must verify, carry the flow's nonce, and name a
// person who may sign in. Then a new session, under a new id.
func (s *Server) signInCallback(w http.ResponseWriter, r *http.Request) {
	o := s.o.SignIn.OIDC
	q := r.URL.Query()
	state := q.Get("state")
	c, cerr := r.Cookie(flowCookie)
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Path: "/auth/", MaxAge: -1, HttpOnly: true, Secure: s.https(r), SameSite: http.SameSiteLaxMode})
	again := "/auth/signin"
	if cerr != nil || state == "" || c.Value != state {
		s.refuseSignIn(w, r, http.StatusBadRequest, "signin.state", "state does not match this browser's", again)
		return
	}
	f, err := o.o.Store.TakeSignIn(r.Context(), storeKey(state), o.now()) // once, on any replica
	switch {
	case hxchat.Code(err) == hxchat.ENotFound:
		s.refuseSignIn(w, r, http.StatusBadRequest, "signin.state", "state unknown, used or expired", again)
		return
	case err != nil:
		s.writeError(w, r, err)
		return
	case q.Get("error") != "":
		s.refuseSignIn(w, r, http.StatusForbidden, "signin.failed", "the provider said "+q.Get("error"), again)
		return
	}
	again += "?next=" + url.QueryEscape(f.Next)
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	if o.o.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, o.o.HTTPClient)
	}
	tok, err := o.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		s.refuseSignIn(w, r, http.StatusForbidden, "signin.failed", "code exchange: "+err.Error(), again)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		s.refuseSignIn(w, r, http.StatusForbidden, "signin.failed", "no ID token", again)
		return
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		reason := "ID token: " + err.Error()
		if _, ok := errors.AsType[*oidc.TokenExpiredError](err); ok {
			reason = "ID token expired"
		}
		s.refuseSignIn(w, r, http.StatusForbidden, "signin.failed", reason, again)
		return
	}
	if idt.Nonce != f.Nonce {
		s.refuseSignIn(w, r, http.StatusForbidden, "signin.failed", "ID token nonce does not match", again)
		return
	}
	id, status, key, reason := o.person(ctx, idt, tok.AccessToken)
	if id == nil {
		s.refuseSignIn(w, r, status, key, reason, "")
		return
	}
	if old, err := r.Cookie(signInCookie); err == nil && old.Value != "" {
		// A session id is never reused across sign-ins: the one this browser
		// had (or was given by somebody else) ends.
		if err := o.o.Store.DeleteSignInSession(r.Context(), storeKey(old.Value)); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	sid := randomToken()
	sess := &hxchat.SignInSession{Key: storeKey(sid), Source: id.Source, Subject: id.Subject, Email: id.Email, Name: id.Name,
		Admin: id.Admin, IDToken: raw, Expires: o.now().Add(signInTTL)}
	if err := o.o.Store.CreateSignInSession(r.Context(), sess); err != nil {
		s.writeError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Value: sid, Path: "/", MaxAge: int(signInTTL.Seconds()),
		HttpOnly: true, Secure: s.https(r), SameSite: http.SameSiteLaxMode})
	s.logger(r).Info("signed in", "owner", id.ownerKey(), "admin", id.Admin)
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// claims are the ID token's claims hxchat reads.
type claims struct {
	Subject       string   `json:"sub"`
	Email         string   `json:"email"`
	EmailVerified *bool    `json:"email_verified"`
	Name          string   `json:"name"`
	Username      string   `json:"preferred_username"`
	Groups        []string `json:"groups"`
	Roles         []string `json:"roles"`
	ClaimNames    struct {
		Groups string `json:"groups"`
	} `json:"_claim_names"`
	HasGroups bool `json:"hasgroups"`
}

// person reads who signed in from the ID token and checks that they may:
// their email's domain and their groups. When the token has too many groups
// to list them (overage) and the groups decide whether the person may sign
// in or is an administrator, Microsoft Graph is asked for them with the
// access token. A refusal returns the status, the message key and the
// reason for the log.
func (o *OIDC) person(ctx context.Context, idt *oidc.IDToken, accessToken string) (*Identity, int, string, string) {
	var c claims
	if err := idt.Claims(&c); err != nil || c.Subject == "" {
		return nil, http.StatusForbidden, "signin.failed", "ID token claims unreadable"
	}
	id := &Identity{Source: "oidc", Subject: idt.Issuer + " " + c.Subject, Name: c.Name}
	if c.Email != "" && (c.EmailVerified == nil || *c.EmailVerified) {
		id.Email = strings.ToLower(c.Email)
	}
	if id.Name == "" {
		id.Name = c.Username
	}
	id.Groups = slices.Concat(c.Groups, c.Roles)
	if len(o.o.AllowedDomains) > 0 {
		_, domain, _ := strings.Cut(id.Email, "@")
		if !slices.Contains(o.o.AllowedDomains, domain) {
			return nil, http.StatusForbidden, "signin.domain", fmt.Sprintf("email domain %q not allowed (verified email: %t)", domain, id.Email != "")
		}
	}
	member := func(g string) bool { return slices.Contains(id.Groups, g) }
	allowed := len(o.o.AllowedGroups) == 0 || slices.ContainsFunc(o.o.AllowedGroups, member)
	admin := o.o.AdminGroup != "" && member(o.o.AdminGroup)
	if c.overage() && (!allowed || (o.o.AdminGroup != "" && !admin)) {
		groups, err := o.graphGroups(ctx, accessToken)
		if err != nil {
			return nil, http.StatusServiceUnavailable, "signin.graph",
				"groups overage: Microsoft Graph could not be asked for the groups (" + o.graphURL() + "): " + err.Error()
		}
		id.Groups = append(id.Groups, groups...)
		allowed = len(o.o.AllowedGroups) == 0 || slices.ContainsFunc(o.o.AllowedGroups, member)
		admin = o.o.AdminGroup != "" && member(o.o.AdminGroup)
	}
	if !allowed {
		return nil, http.StatusForbidden, "signin.group", "in none of the allowed groups"
	}
	id.Admin = admin
	return id, 0, "", ""
}

// signOut ends the sign-in session here, then at the provider when it has
// an end-session endpoint (RP-initiated logout), which sends the browser
// back to /auth/signedout.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	o := s.o.SignIn.OIDC
	var hint string
	sess, err := o.session(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if sess != nil {
		hint = sess.IDToken
		if err := o.o.Store.DeleteSignInSession(r.Context(), sess.Key); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.https(r), SameSite: http.SameSiteLaxMode})
	target := "/auth/signedout"
	if o.endSession != "" {
		back, _ := url.Parse(o.o.RedirectURL)
		back.Path, back.RawQuery = "/auth/signedout", ""
		q := url.Values{"client_id": {o.o.ClientID}, "post_logout_redirect_uri": {back.String()}}
		if hint != "" {
			q.Set("id_token_hint", hint)
		}
		target = o.endSession
		if strings.Contains(target, "?") {
			target += "&" + q.Encode()
		} else {
			target += "?" + q.Encode()
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// signedOut says that the person is signed out, with a link to sign in.
func (s *Server) signedOut(w http.ResponseWriter, r *http.Request) {
	l := s.locales.pick(r)
	p := s.page(r)
	p.NoComposer, p.NoSidebar = true, true
	s.tpl.write(w, http.StatusOK, l, "error.html", errorPage{Page: p, Heading: l.T("signin.signed_out.title"),
		Message: l.T("signin.signed_out"), Link: "/auth/signin", LinkText: l.T("signin.signin")})
}
