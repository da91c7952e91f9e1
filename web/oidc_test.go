package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/oidctest"
	"github.com/hxchat/hxchat/web"
)

var alice = map[string]any{"sub": "alice-sub", "email": "Alice@Example.com", "email_verified": true, "name": "Alice Liddell", "groups": []string{"staff"}}

// oidcServer runs hxchat in oidc mode against a fake provider that signs
// people in as claims; opt changes the sign-in options.
func oidcServer(t *testing.T, claims map[string]any, opt func(*web.OIDCOptions)) (*httptest.Server, *oidctest.Provider, *syncBuffer) {
	t.Helper()
	idp := oidctest.Start(t, "hxchat-app", "app-secret", claims)
	ts := httptest.NewUnstartedServer(nil)
	oo := web.OIDCOptions{Issuer: idp.URL, ClientID: "hxchat-app", ClientSecret: "app-secret",
		RedirectURL: "http://" + ts.Listener.Addr().String() + "/auth/callback"}
	if opt != nil {
		opt(&oo)
	}
	var log syncBuffer
	startServer(t, ts, 0, 0, func(wo *web.Options) {
		oo.Store = wo.Store.(hxchat.SignInStore)
		o, err := web.NewOIDC(context.Background(), oo)
		if err != nil {
			t.Fatal(err)
		}
		wo.SignIn = web.SignIn{Mode: web.AuthOIDC, OIDC: o}
		wo.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	return ts, idp, &log
}

// browser is a client with cookies that does not follow redirects, so that
// each step of a sign-in can be seen.
func browser() *http.Client {
	c := client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// step sends a GET (a browser's navigation) and expects status.
func step(t *testing.T, c *http.Client, u string, status int) *http.Response {
	t.Helper()
	resp, body := doPlain(t, c, mustReq("GET", u))
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d\n%s", u, resp.StatusCode, status, clip(body))
	}
	return resp
}

// abs resolves the Location of resp.
func abs(resp *http.Response) string {
	u, err := resp.Location()
	if err != nil {
		panic(err)
	}
	return u.String()
}

// signIn walks c through a sign-in from path: hxchat sends it to sign in,
// then to the provider, which sends it back to /auth/callback; the
// callback's response is returned (its Location is path on success).
func signIn(t *testing.T, ts *httptest.Server, c *http.Client, path string) (*http.Response, string) {
	t.Helper()
	resp := step(t, c, ts.URL+path, http.StatusSeeOther)
	if got := resp.Header.Get("Location"); got != "/auth/signin?next="+url.QueryEscape(path) {
		t.Fatalf("GET %s sends to %q", path, got)
	}
	resp = step(t, c, abs(resp), http.StatusSeeOther) // to the provider
	resp = step(t, c, abs(resp), http.StatusFound)    // the provider signs in and sends back
	callback := abs(resp)
	if !strings.HasPrefix(callback, ts.URL+"/auth/callback?") {
		t.Fatalf("the provider sends to %s", callback)
	}
	resp, body := doPlain(t, c, mustReq("GET", callback))
	return resp, body
}

func cookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestOIDCSignIn: a full sign-in (PKCE, state, nonce checked by the fake
// provider and by hxchat), a session cookie that is new at each sign-in
// and HttpOnly, SameSite=Lax; the same person in two browsers sees the same
// conversations and another person none; a replayed callback is refused;
// sign-out ends the session here and at the provider.
func TestOIDCSignIn(t *testing.T) {
	ts, idp, log := oidcServer(t, alice, nil)
	laptop := browser()
	// A session id planted before sign-in (fixation) is not kept.
	u, _ := url.Parse(ts.URL)
	laptop.Jar.SetCookies(u, []*http.Cookie{{Name: "hxchat_signin", Value: "planted-by-attacker", Path: "/"}})

	resp, body := signIn(t, ts, laptop, "/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("callback: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), clip(body))
	}
	ck := cookieOf(resp, "hxchat_signin")
	if ck == nil || ck.Value == "planted-by-attacker" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure {
		t.Fatalf("session cookie %+v", ck)
	}
	if st := cookieOf(resp, "hxchat_oidc_state"); st == nil || st.MaxAge >= 0 {
		t.Errorf("the state cookie is not cleared: %+v", st)
	}
	resp, page := get(t, laptop, ts.URL+"/")
	// The sign-out form may lead to the provider's end-session endpoint.
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+idp.Addr()+";") {
		t.Errorf("CSP %q", csp)
	}
	for _, want := range []string{"Signed in as <strong>Alice Liddell</strong>", "alice@example.com", `action="/auth/signout"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	planted := &http.Client{CheckRedirect: laptop.CheckRedirect}
	req := mustReq("GET", ts.URL+"/")
	req.AddCookie(&http.Cookie{Name: "hxchat_signin", Value: "planted-by-attacker"})
	if resp, _ := doPlain(t, planted, req); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the planted session id: %d", resp.StatusCode)
	}

	// A conversation of the laptop is the phone's too, not Bob's.
	resp, body = postForm(t, laptop, ts, "/c", url.Values{"message": {"question from the laptop"}}, "")
	conv, ok := strings.CutPrefix(resp.Header.Get("HX-Push-Url"), "/c/")
	if resp.StatusCode != 200 || !ok {
		t.Fatalf("POST /c: %d %s", resp.StatusCode, clip(body))
	}
	phone := browser()
	if resp, _ := signIn(t, ts, phone, "/c/"+conv); resp.Header.Get("Location") != "/c/"+conv {
		t.Fatalf("phone: back to %s", resp.Header.Get("Location"))
	}
	if resp, body := get(t, phone, ts.URL+"/c/"+conv); resp.StatusCode != 200 || !strings.Contains(body, "question from the laptop") {
		t.Errorf("phone: GET /c/%s: %d", conv, resp.StatusCode)
	}
	idp.SetClaims(map[string]any{"sub": "bob-sub", "email": "bob@example.com", "name": "Bob"})
	bob := browser()
	signIn(t, ts, bob, "/")
	if resp, _ := get(t, bob, ts.URL+"/c/"+conv); resp.StatusCode != 404 {
		t.Errorf("bob: GET /c/%s: %d", conv, resp.StatusCode)
	}
	if _, page := get(t, bob, ts.URL+"/"); strings.Contains(page, conv) || !strings.Contains(page, "Bob") {
		t.Error("bob's page shows Alice's conversation, or not Bob")
	}

	// Sign-out: the session ends here, then at the provider, which sends
	// the browser back to the signed-out page.
	req, _ = http.NewRequest("POST", ts.URL+"/auth/signout", nil)
	resp, _ = doPlain(t, laptop, req)
	end, _ := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || end == nil || !strings.HasPrefix(end.String(), idp.EndSessionURL()+"&") {
		t.Fatalf("sign-out: %d %v", resp.StatusCode, end)
	}
	if q := end.Query(); q.Get("post_logout_redirect_uri") != ts.URL+"/auth/signedout" || q.Get("client_id") != "hxchat-app" || q.Get("id_token_hint") == "" {
		t.Errorf("end-session query: %v", q)
	}
	resp = step(t, laptop, end.String(), http.StatusFound)
	resp, body = doPlain(t, laptop, mustReq("GET", abs(resp)))
	if resp.StatusCode != 200 || !strings.Contains(body, "You are signed out") || !strings.Contains(body, `href="/auth/signin"`) {
		t.Errorf("signed-out page: %d %s", resp.StatusCode, clip(body))
	}
	// The old session id opens nothing; an htmx request is told to sign in.
	req = mustReq("GET", ts.URL+"/c/"+conv)
	req.AddCookie(&http.Cookie{Name: "hxchat_signin", Value: ck.Value})
	if resp, _ := doPlain(t, planted, req); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out, GET /c/%s: %d", conv, resp.StatusCode)
	}
	if resp, body := get(t, laptop, ts.URL+"/c/"+conv+"/item", "HX-Current-URL", ts.URL+"/c/"+conv); resp.StatusCode != http.StatusUnauthorized ||
		resp.Header.Get("HX-Redirect") != "/auth/signin?next="+url.QueryEscape("/c/"+conv) || !strings.Contains(body, "Reload the page to sign in again") {
		t.Errorf("htmx after sign-out: %d %q %s", resp.StatusCode, resp.Header.Get("HX-Redirect"), clip(body))
	}
	if got := log.String(); !strings.Contains(got, `msg="signed in"`) || strings.Contains(got, "alice@example.com") {
		t.Errorf("log:\n%s", got)
	}
}

// TestOIDCRefusals: each bad sign-in is refused with a page that says what
// to do, in English and Japanese, and a log line that says why; no session
// cookie is set.
func TestOIDCRefusals(t *testing.T) {
	cases := []struct {
		name    string
		claims  map[string]any
		opt     func(*web.OIDCOptions)
		tamper  func(map[string]any)
		callbk  func(u *url.URL, c *http.Client) // changes the callback before it is sent
		status  int
		page    string
		pageJA  string
		logWant string
	}{
		{name: "wrong state", callbk: func(u *url.URL, _ *http.Client) {
			q := u.Query()
			q.Set("state", "0123456789abcdef")
			u.RawQuery = q.Encode()
		}, status: 400, page: "was not started in this browser", pageJA: "このブラウザーで開始されたものではない", logWant: "state does not match"},
		{name: "state of another browser", callbk: func(u *url.URL, c *http.Client) {
			c.Jar = nil // the callback arrives without the cookie of the browser that started it
		}, status: 400, page: "was not started in this browser", logWant: "state does not match"},
		{name: "wrong nonce", tamper: func(c map[string]any) { c["nonce"] = "not-the-one-sent" }, status: 403,
			page: "could not be verified", pageJA: "検証できませんでした", logWant: "nonce does not match"},
		{name: "expired token", tamper: func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
		}, status: 403, page: "could not be verified", logWant: "ID token expired"},
		{name: "token for another client", tamper: func(c map[string]any) { c["aud"] = "other-app" }, status: 403,
			page: "could not be verified", logWant: "audience"},
		{name: "token of another issuer", tamper: func(c map[string]any) { c["iss"] = "https://evil.example.com" }, status: 403,
			page: "could not be verified", logWant: "issued by a different provider"},
		{name: "disallowed domain", claims: map[string]any{"sub": "eve", "email": "eve@evil.example", "email_verified": true},
			opt: func(o *web.OIDCOptions) { o.AllowedDomains = []string{"example.com"} }, status: 403,
			page: "only accounts with an email address of the organisation", pageJA: "許可したドメイン", logWant: `email domain \"evil.example\" not allowed`},
		{name: "unverified email", claims: map[string]any{"sub": "eve", "email": "eve@example.com", "email_verified": false},
			opt: func(o *web.OIDCOptions) { o.AllowedDomains = []string{"example.com"} }, status: 403,
			page: "only accounts with an email address", logWant: "verified email: false"},
		{name: "group not allowed", opt: func(o *web.OIDCOptions) { o.AllowedGroups = []string{"chat-users"} }, status: 403,
			page: "in none of the groups", pageJA: "いずれにも属していません", logWant: "in none of the allowed groups"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			claims := tc.claims
			if claims == nil {
				claims = alice
			}
			for _, lang := range []string{"en", "ja"} {
				if lang == "ja" && tc.pageJA == "" {
					continue
				}
				ts, idp, log := oidcServer(t, claims, tc.opt)
				idp.SetTamper(tc.tamper)
				c := browser()
				resp := step(t, c, ts.URL+"/auth/signin?next=/", http.StatusSeeOther)
				resp = step(t, c, abs(resp), http.StatusFound)
				cb, _ := resp.Location()
				if tc.callbk != nil {
					tc.callbk(cb, c)
				}
				req := mustReq("GET", cb.String())
				req.Header.Set("Accept-Language", lang)
				resp, body := doPlain(t, c, req)
				want := tc.page
				if lang == "ja" {
					want = tc.pageJA
				}
				if resp.StatusCode != tc.status || !strings.Contains(body, want) {
					t.Errorf("%s: %d %s", lang, resp.StatusCode, clip(body))
				}
				if cookieOf(resp, "hxchat_signin") != nil {
					t.Errorf("a session cookie was set")
				}
				if got := log.String(); !strings.Contains(got, `msg="sign-in refused"`) || !strings.Contains(got, tc.logWant) {
					t.Errorf("log lacks %s:\n%s", tc.logWant, got)
				}
			}
		})
	}
}

// TestOIDCReplayedCallback: a callback sent again, even with the state
// cookie, is refused: a state is good once.
func TestOIDCReplayedCallback(t *testing.T) {
	ts, _, log := oidcServer(t, alice, nil)
	c := browser()
	resp := step(t, c, ts.URL+"/auth/signin", http.StatusSeeOther)
	state := cookieOf(resp, "hxchat_oidc_state")
	resp = step(t, c, abs(resp), http.StatusFound)
	callback := abs(resp)
	if resp := step(t, c, callback, http.StatusSeeOther); cookieOf(resp, "hxchat_signin") == nil {
		t.Fatal("no session")
	}
	replay := browser()
	u, _ := url.Parse(ts.URL + "/auth/")
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: state.Name, Value: state.Value, Path: "/auth/"}})
	resp, body := doPlain(t, replay, mustReq("GET", callback))
	if resp.StatusCode != 400 || !strings.Contains(body, "already used") || cookieOf(resp, "hxchat_signin") != nil {
		t.Errorf("replay: %d %s", resp.StatusCode, clip(body))
	}
	if !strings.Contains(log.String(), "state unknown, used or expired") {
		t.Errorf("log:\n%s", log.String())
	}
}

// TestOIDCAdminAndHeaders: a member of the admin group shows as
// administrator; identity headers never sign anybody in in oidc mode; the
// page to go to after signing in is never another site.
func TestOIDCAdminAndHeaders(t *testing.T) {
	ts, _, _ := oidcServer(t, alice, func(o *web.OIDCOptions) { o.AdminGroup = "staff" })
	forged := &http.Client{Transport: asUser("alice@example.com"), CheckRedirect: browser().CheckRedirect}
	if resp, _ := doPlain(t, forged, mustReq("GET", ts.URL+"/")); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("forged headers in oidc mode: %d", resp.StatusCode)
	}
	c := browser()
	resp := step(t, c, ts.URL+"/auth/signin?next="+url.QueryEscape("//evil.example/x"), http.StatusSeeOther)
	resp = step(t, c, abs(resp), http.StatusFound)
	if resp := step(t, c, abs(resp), http.StatusSeeOther); resp.Header.Get("Location") != "/" {
		t.Errorf("next=//evil.example/x sent to %q", resp.Header.Get("Location"))
	}
	if _, page := get(t, c, ts.URL+"/"); !strings.Contains(page, "administrator") {
		t.Error("the admin group does not show")
	}
}

// TestOIDCSessionExpires: 12 hours after signing in, the session opens
// nothing (the browser is sent to sign in again), and the next sign-in
// deletes it from the store with every other expired sign-in.
func TestOIDCSessionExpires(t *testing.T) {
	idp := oidctest.Start(t, "hxchat-app", "app-secret", alice)
	ts := httptest.NewUnstartedServer(nil)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	var store hxchat.SignInStore
	startServer(t, ts, 0, 0, func(wo *web.Options) {
		store = wo.Store.(hxchat.SignInStore)
		o, err := web.NewOIDC(context.Background(), web.OIDCOptions{Issuer: idp.URL, ClientID: "hxchat-app", ClientSecret: "app-secret",
			RedirectURL: "http://" + ts.Listener.Addr().String() + "/auth/callback", Store: store})
		if err != nil {
			t.Fatal(err)
		}
		web.SetOIDCClock(o, func() time.Time { return time.Unix(0, clock.Load()) })
		wo.SignIn = web.SignIn{Mode: web.AuthOIDC, OIDC: o}
	})
	c := browser()
	if resp, body := signIn(t, ts, c, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", resp.StatusCode, clip(body))
	}
	step(t, c, ts.URL+"/", http.StatusOK)
	clock.Add(int64(12*time.Hour - time.Second))
	step(t, c, ts.URL+"/", http.StatusOK)
	clock.Add(int64(time.Second))
	if resp := step(t, c, ts.URL+"/", http.StatusSeeOther); resp.Header.Get("Location") != "/auth/signin?next=%2F" {
		t.Errorf("an expired session sends to %q", resp.Header.Get("Location"))
	}
	step(t, browser(), ts.URL+"/auth/signin", http.StatusSeeOther)
	if n, err := store.DeleteExpiredSignIns(context.Background(), time.Unix(0, clock.Load())); err != nil || n != 0 {
		t.Errorf("after a sign-in started, %d expired sign-ins were left (%v)", n, err)
	}
}
