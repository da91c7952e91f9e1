// Package oidcfake is an OpenID Connect provider for tests, in an httptest
// server: discovery, a JWKS with a generated RSA key, an authorization
// endpoint that signs the configured person in at once, a token endpoint
// that checks the code, the client and PKCE and issues RS256-signed ID
// tokens, and an end-session endpoint.
package oidcfake

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// Provider is a fake OpenID Connect provider.
type Provider struct {
	*httptest.Server
	ClientID, ClientSecret string

	key    *rsa.PrivateKey
	signer jose.Signer

	mu sync.Mutex
	// Claims are the claims of the next ID tokens besides iss, aud, iat,
	// exp and nonce: sub, email, name, groups...
	claims map[string]any
	// Tamper, when set, changes the claims of an ID token just before it is
	// signed (a wrong nonce, an expired token).
	tamper func(map[string]any)
	codes  map[string]grant
	// EndSessions counts the calls of the end-session endpoint.
	endSessions []url.Values
}

type grant struct {
	nonce, challenge, redirect string
}

// New starts a provider for the client id and secret, signing people in as
// claims.
func New(clientID, clientSecret string, claims map[string]any) *Provider {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(err)
	}
	p := &Provider{ClientID: clientID, ClientSecret: clientSecret, key: key, signer: signer, claims: claims, codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /logout", p.logout)
	p.Server = httptest.NewServer(mux)
	return p
}

// SetClaims sets the claims of the next sign-ins.
func (p *Provider) SetClaims(c map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims = c
}

// SetTamper sets a change to the claims of the next ID tokens (nil: none).
func (p *Provider) SetTamper(f func(map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tamper = f
}

// EndSessions returns the queries the end-session endpoint was called with.
func (p *Provider) EndSessions() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]url.Values(nil), p.endSessions...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"jwks_uri":                              p.URL + "/jwks",
		"end_session_endpoint":                  p.URL + "/logout",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

// authorize signs the person in at once and sends the browser back with a
// code, as a provider does after its login page.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
		http.Error(w, "bad authorization request: "+q.Encode(), http.StatusBadRequest)
		return
	}
	code := rand.Text()
	p.mu.Lock()
	p.codes[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	p.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token exchanges a code, once, for an ID token; the PKCE verifier must
// match the challenge.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	p.mu.Lock()
	g, found := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code"))
	claims := map[string]any{}
	for k, v := range p.claims {
		claims[k] = v
	}
	tamper := p.tamper
	p.mu.Unlock()
	switch {
	case id != p.ClientID || secret != p.ClientSecret:
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]string{"error": "invalid_client"})
		return
	case !found || g.redirect != r.PostForm.Get("redirect_uri") ||
		oauth2.S256ChallengeFromVerifier(r.PostForm.Get("code_verifier")) != g.challenge:
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]string{"error": "invalid_grant"})
		return
	}
	now := time.Now()
	claims["iss"], claims["aud"], claims["nonce"] = p.URL, p.ClientID, g.nonce
	claims["iat"], claims["exp"] = now.Unix(), now.Add(time.Hour).Unix()
	if tamper != nil {
		tamper(claims)
	}
	payload, _ := json.Marshal(claims)
	sig, err := p.signer.Sign(payload)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	raw, _ := sig.CompactSerialize()
	writeJSON(w, map[string]any{"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 3600, "id_token": raw})
}

// logout is the end-session endpoint: it records the call and sends the
// browser to post_logout_redirect_uri.
func (p *Provider) logout(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.endSessions = append(p.endSessions, r.URL.Query())
	p.mu.Unlock()
	if u := r.URL.Query().Get("post_logout_redirect_uri"); u != "" {
		http.Redirect(w, r, u, http.StatusFound)
		return
	}
	w.Write([]byte("signed out"))
}
