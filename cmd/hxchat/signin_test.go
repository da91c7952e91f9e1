package main

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/internal/oidctest"
	"github.com/hxchat/hxchat/llm/llmtest"
	"github.com/hxchat/hxchat/postgres/pgtest"
)

// asProxy adds oauth2-proxy's header for email to every request.
type asProxy string

func (e asProxy) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-Email", string(e))
	return http.DefaultTransport.RoundTrip(r)
}

// TestSignInProxy: the command in proxy mode believes the sign-in header
// only from its trusted proxy: with loopback trusted, two browsers of one
// person share a conversation; with another address trusted, the same
// header is refused with 403 (forged).
func TestSignInProxy(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: []string{"fine"}})
	cfg := testConfig(up, t.TempDir())
	cfg.Auth = config.Auth{Mode: config.AuthProxy, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	m := startApp(t, cfg)
	laptop, phone, other := newBrowser(t, m), newBrowser(t, m), newBrowser(t, m)
	laptop.c.Transport, phone.c.Transport, other.c.Transport = asProxy("carol@example.com"), asProxy("CAROL@example.com"), asProxy("dave@example.com")
	resp, body := laptop.post("/c", url.Values{"message": {"shared question"}})
	path := resp.Header.Get("HX-Push-Url")
	if resp.StatusCode != 200 || !strings.HasPrefix(path, "/c/") {
		t.Fatalf("POST /c: %d %s", resp.StatusCode, body)
	}
	if code, body := phone.get(path); code != 200 || !strings.Contains(body, "shared question") || !strings.Contains(body, "carol@example.com") {
		t.Errorf("phone: GET %s: %d", path, code)
	}
	if code, _ := other.get(path); code != 404 {
		t.Errorf("another person: GET %s: %d", path, code)
	}

	cfg = testConfig(up, t.TempDir())
	cfg.Auth = config.Auth{Mode: config.AuthProxy, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.20.30.40/32")}}
	forged := newBrowser(t, startApp(t, cfg))
	forged.c.Transport = asProxy("carol@example.com")
	if code, body := forged.get("/"); code != 403 || !strings.Contains(body, "did not come through it") {
		t.Errorf("forged header: %d %s", code, body)
	}
}

// freeAddr returns a loopback address with a port free now, for an app
// whose address must be known before it starts (the OIDC redirect URL).
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBrowserSignInOIDC: in Chromium, against mockoidc, an OpenID Connect
// provider in the process: opening hxchat signs Alice in (through the provider and back),
// the page says who she is, she chats; the session cookie is out of the
// page's reach; Sign out ends the session here and at the provider and
// shows the signed-out page; the conversation's address then sends the
// browser to sign in; signed in as Bob, the browser gets 404 for Alice's
// conversation and does not list it.
func TestBrowserSignInOIDC(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: []string{"Hello ", "Alice."}, Delay: 10 * time.Millisecond})
	idp := oidctest.Start(t, "hxchat", "hxchat-secret", map[string]any{"sub": "a1", "email": "alice@example.com", "name": "Alice Liddell"})
	cfg := testConfig(up, t.TempDir())
	cfg.Addr = freeAddr(t)
	cfg.Auth = config.Auth{Mode: config.AuthOIDC, OIDC: config.OIDC{Issuer: idp.URL, ClientID: "hxchat", ClientSecret: "hxchat-secret",
		RedirectURL: "http://" + cfg.Addr + "/auth/callback", AllowedDomains: []string{"example.com"}}}
	m := startApp(t, cfg)
	ctx, log := chrome(t)
	base := "http://" + m.Addr()

	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	waitText(t, ctx, ".user-name", "who is signed in", func(s string) bool { return strings.Contains(s, "Alice Liddell") })
	if c := eval[string](t, ctx, `document.cookie`); strings.Contains(c, "hxchat_signin") {
		t.Errorf("the page can read the session cookie: %q", c)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.ID("message"), "Who am I?"), pressEnter())
	waitText(t, ctx, ".msg.assistant.state-done .text", "the answer", func(s string) bool { return s == "Hello Alice." })
	waitFor(t, "the address bar", func() bool { return strings.HasPrefix(eval[string](t, ctx, `location.pathname`), "/c/") })
	conv := eval[string](t, ctx, `location.pathname`)

	do(t, ctx, chromedp.Click(chromedp.CSS(".signout button")))
	waitText(t, ctx, ".error-page", "the signed-out page", func(s string) bool { return strings.Contains(s, "You are signed out") })
	if got := eval[string](t, ctx, `location.pathname`); got != "/auth/signedout" {
		t.Errorf("after sign-out the browser is at %s", got)
	}
	if n := len(idp.EndSessions()); n != 1 {
		t.Errorf("the provider's end-session endpoint was called %d times", n)
	}

	log.check(t) // before the refusals below, which the page reports

	// Signed out, the conversation's address sends the browser to sign in:
	// the provider, told to refuse this once, keeps it there.
	idp.QueueError(&mockoidc.ServerError{Code: http.StatusUnauthorized, Error: "login_required", Description: "sign in first"})
	do(t, ctx, chromedp.Navigate(base+conv))
	if got := eval[string](t, ctx, `location.href`); !strings.HasPrefix(got, idp.AuthorizationEndpoint()+"?") {
		t.Errorf("signed out, %s sent the browser to %s", conv, got)
	}
	if body := eval[string](t, ctx, `document.body.innerText`); strings.Contains(body, "Who am I?") || !strings.Contains(body, "login_required") {
		t.Errorf("signed out, the browser shows %q", body)
	}

	idp.SetClaims(map[string]any{"sub": "b1", "email": "bob@example.com", "name": "Bob"})
	do(t, ctx, chromedp.Navigate(base+conv))
	waitText(t, ctx, ".error-page", "Bob's 404", func(s string) bool { return strings.Contains(s, "404") })
	waitText(t, ctx, ".user-name", "who is signed in", func(s string) bool { return strings.Contains(s, "Bob") })
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("message")))
	if n := eval[int](t, ctx, `document.querySelectorAll('#conversations a').length`); n != 0 {
		t.Errorf("Bob's list shows %d conversations", n)
	}
}

// TestSignInOIDCUnreachable: a provider that does not answer stops
// start-up with one line that names the setting and what to check.
func TestSignInOIDCUnreachable(t *testing.T) {
	cfg := testConfig(nil, t.TempDir())
	cfg.Auth = config.Auth{Mode: config.AuthOIDC, OIDC: config.OIDC{Issuer: "http://" + freeAddr(t), ClientID: "hxchat",
		RedirectURL: "http://127.0.0.1:8080/auth/callback"}}
	m := NewMain(cfg, t.Output())
	defer m.Close()
	err := m.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "sign-in with OIDC (-oidc-issuer, HXCHAT_OIDC_ISSUER)") ||
		!strings.Contains(err.Error(), "/.well-known/openid-configuration must answer") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Run: %v", err)
	}
}

// TestSignInOIDCReplicas: two processes on one PostgreSQL database, behind
// a load balancer without sticky sessions, share sign-ins. A sign-in that
// A started ends at B's callback; the session opens Alice's conversation on
// both, and on a process started after A stopped (a restart); the callback
// replayed to A is refused; signed out at B, the old cookie opens nothing
// on A.
func TestSignInOIDCReplicas(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: []string{"shared"}})
	idp := oidctest.Start(t, "hxchat", "hxchat-secret", map[string]any{"sub": "a1", "email": "alice@example.com", "name": "Alice Liddell"})
	dbURL := config.Secret(pgtest.URL(t))
	addrB := freeAddr(t)
	replica := func(addr string) *Main {
		cfg := testConfig(up, t.TempDir())
		cfg.Addr, cfg.DatabaseURL = addr, dbURL
		// The provider sends every browser back to B, as a load balancer
		// may send the callback to any replica.
		cfg.Auth = config.Auth{Mode: config.AuthOIDC, OIDC: config.OIDC{Issuer: idp.URL, ClientID: "hxchat", ClientSecret: "hxchat-secret",
			RedirectURL: "http://" + addrB + "/auth/callback"}}
		return startApp(t, cfg)
	}
	a, b := replica("127.0.0.1:0"), replica(addrB)
	onA, onB := newBrowser(t, a), newBrowser(t, b)
	onB.c.Jar = onA.c.Jar // one browser: cookies do not tell ports apart
	var callback string
	onA.c.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if r.URL.Path == "/auth/callback" {
			callback = r.URL.String()
		}
		return nil
	}
	if code, page := onA.get("/"); code != 200 || !strings.Contains(page, "Alice Liddell") {
		t.Fatalf("sign-in through A and B: %d", code)
	}
	if !strings.HasPrefix(callback, "http://"+addrB+"/auth/callback?") {
		t.Fatalf("the callback went to %q", callback)
	}
	resp, body := onA.post("/c", url.Values{"message": {"asked on A"}})
	path := resp.Header.Get("HX-Push-Url")
	if resp.StatusCode != 200 || !strings.HasPrefix(path, "/c/") {
		t.Fatalf("POST /c on A: %d %s", resp.StatusCode, body)
	}
	if code, page := onB.get(path); code != 200 || !strings.Contains(page, "asked on A") {
		t.Errorf("GET %s on B: %d", path, code)
	}

	a.Close()
	a2 := replica("127.0.0.1:0")
	onA2 := newBrowser(t, a2)
	onA2.c.Jar = onA.c.Jar
	if code, page := onA2.get(path); code != 200 || !strings.Contains(page, "asked on A") {
		t.Errorf("GET %s after A restarted: %d", path, code)
	}
	// The replay carries the state cookie, as the browser had it: only the
	// store, where B took the flow, can refuse it.
	replay := newBrowser(t, a2)
	cb, _ := url.Parse(callback)
	replay.c.Jar.SetCookies(&url.URL{Scheme: "http", Host: a2.Addr(), Path: "/auth/"},
		[]*http.Cookie{{Name: "hxchat_oidc_state", Value: cb.Query().Get("state"), Path: "/auth/"}})
	if code, page := replay.get(cb.RequestURI()); code != 400 || !strings.Contains(page, "already used") {
		t.Errorf("replayed callback on another replica: %d", code)
	}

	u, _ := url.Parse("http://" + a2.Addr())
	var session string
	for _, c := range onA.c.Jar.Cookies(u) {
		if c.Name == "hxchat_signin" {
			session = c.Value
		}
	}
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	onB.c.CheckRedirect = noFollow
	req, _ := http.NewRequest("POST", "http://"+addrB+"/auth/signout", nil)
	if resp, err := onB.c.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out on B: %v %v", resp, err)
	}
	req, _ = http.NewRequest("GET", "http://"+a2.Addr()+path, nil)
	req.AddCookie(&http.Cookie{Name: "hxchat_signin", Value: session})
	resp, err := (&http.Client{CheckRedirect: noFollow}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/auth/signin") {
		t.Errorf("the cookie signed out on B, on A: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
