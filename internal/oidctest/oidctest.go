// Package oidctest runs github.com/oauth2-proxy/mockoidc, an OpenID Connect
// provider in the test's process, the way hxchat's tests need it: the person
// who signs in is given as the claims of their ID token (any claim, Entra
// ID's groups overage too); a hook forges the next ID tokens (a wrong nonce,
// an expired token, another audience or issuer); and an end-session endpoint,
// which mockoidc lacks, is added through its middleware, with the discovery
// document naming it.
//
// mockoidc routes only its own paths, so the end-session endpoint is its
// authorization endpoint with the query end_session=1; a provider's
// end_session_endpoint may carry a query, and hxchat adds its parameters to it.
package oidctest

import (
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// Provider is a running mockoidc with hxchat's additions.
type Provider struct {
	*mockoidc.MockOIDC
	// URL is the issuer, as hxchat is configured with it.
	URL string

	mu          sync.Mutex
	claims      map[string]any
	tamper      func(map[string]any)
	endSessions []url.Values
}

// Start runs a provider for the client id and secret (mockoidc requires a
// secret) that signs people in as claims, until the test ends.
func Start(t testing.TB, clientID, clientSecret string, claims map[string]any) *Provider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.ClientID, m.ClientSecret = clientID, clientSecret
	m.CodeChallengeMethodsSupported = []string{"S256"}
	p := &Provider{MockOIDC: m, claims: claims}
	if err := m.AddMiddleware(p.middleware); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	p.URL = m.Issuer()
	t.Cleanup(func() { m.Shutdown() })
	return p
}

// SetClaims sets who signs in next: the claims of their ID tokens besides
// iss, aud, exp, iat, nbf, jti and nonce. "sub" is required.
func (p *Provider) SetClaims(c map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims = c
}

// SetTamper sets a change made to the claims of the next ID tokens just
// before they are signed (nil: none).
func (p *Provider) SetTamper(f func(map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tamper = f
}

// EndSessionURL is the provider's end-session endpoint.
func (p *Provider) EndSessionURL() string {
	return p.Issuer() + "/authorize?end_session=1"
}

// EndSessions returns the queries the end-session endpoint was called with.
func (p *Provider) EndSessions() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]url.Values(nil), p.endSessions...)
}

// AccessTokenSubject returns the subject of an access token this provider
// issued, or an error if it did not issue it or it has expired.
func (p *Provider) AccessTokenSubject(raw string) (string, error) {
	tok, err := p.Keypair.VerifyJWT(raw, p.Now)
	if err != nil {
		return "", err
	}
	return tok.Claims.GetSubject()
}

// middleware adds to mockoidc: the person of SetClaims at each
// authorization, the end-session endpoint, and its place in the discovery
// document.
func (p *Provider) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == mockoidc.AuthorizationEndpoint && r.URL.Query().Get("end_session") == "1":
			p.endSession(w, r)
			return
		case r.URL.Path == mockoidc.AuthorizationEndpoint:
			p.mu.Lock()
			who := person{claims: maps.Clone(p.claims), tamper: p.tamper}
			p.mu.Unlock()
			p.UserQueue.Lock()
			p.UserQueue.Queue = []mockoidc.User{who}
			p.UserQueue.Unlock()
		case r.URL.Path == mockoidc.DiscoveryEndpoint:
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var doc map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			doc["end_session_endpoint"] = p.EndSessionURL()
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(doc)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// endSession records the call and sends the browser to
// post_logout_redirect_uri, as a provider does once it has signed the
// person out.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	q.Del("end_session")
	p.mu.Lock()
	p.endSessions = append(p.endSessions, q)
	p.mu.Unlock()
	if u := q.Get("post_logout_redirect_uri"); u != "" {
		http.Redirect(w, r, u, http.StatusFound)
		return
	}
	w.Write([]byte("signed out"))
}

// person is a mockoidc.User given by the claims of their ID token.
type person struct {
	claims map[string]any
	tamper func(map[string]any)
}

// ID is the subject.
func (u person) ID() string {
	s, _ := u.claims["sub"].(string)
	return s
}

// Userinfo returns the claims.
func (u person) Userinfo([]string) ([]byte, error) {
	return json.Marshal(u.claims)
}

// Claims returns the ID token's claims: mockoidc's (issuer, audience,
// times, nonce), the person's, then the tamper's change.
func (u person) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	c := jwt.MapClaims{"iss": base.Issuer, "aud": []string(base.Audience), "sub": base.Subject,
		"exp": base.ExpiresAt.Unix(), "iat": base.IssuedAt.Unix(), "nbf": base.NotBefore.Unix(), "jti": base.ID}
	if base.Nonce != "" {
		c["nonce"] = base.Nonce
	}
	maps.Copy(c, u.claims)
	if u.tamper != nil {
		u.tamper(c)
	}
	return c, nil
}
