package web_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hxchat/hxchat/internal/metrics"
	"github.com/hxchat/hxchat/web"
)

// loopback is where the test's requests come from: the trusted proxy.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// headerTransport adds its headers to every request: what a signing-in
// proxy in front of hxchat does.
type headerTransport struct{ h http.Header }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

// asUser is oauth2-proxy's headers for the person email.
func asUser(email string) http.RoundTripper {
	return headerTransport{http.Header{"X-Forwarded-Email": {email}, "X-Forwarded-User": {"sub-" + email}}}
}

// easyAuth is App Service authentication's headers for a principal with
// claims (type, value pairs).
func easyAuth(name string, claims ...string) http.RoundTripper {
	var b strings.Builder
	b.WriteString(`{"auth_typ":"aad","name_typ":"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress","role_typ":"roles","claims":[`)
	for i := 0; i+1 < len(claims); i += 2 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"typ":"` + claims[i] + `","val":"` + claims[i+1] + `"}`)
	}
	b.WriteString("]}")
	return headerTransport{http.Header{
		"X-Ms-Client-Principal":      {base64.StdEncoding.EncodeToString([]byte(b.String()))},
		"X-Ms-Client-Principal-Name": {name},
	}}
}

func proxyMode(trusted []netip.Prefix, log *syncBuffer) func(*web.Options) {
	return func(o *web.Options) {
		o.SignIn = web.SignIn{Mode: web.AuthProxy, TrustedProxies: trusted, SignOutURL: "/oauth2/sign_out"}
		if log != nil {
			o.Logger = slog.New(slog.NewTextHandler(log, nil))
		}
	}
}

// TestProxyRefusesForgedHeaders: sign-in headers from an address that is
// not a trusted proxy are refused with 403, a page in the reader's language
// that says what to do, and a log line; so is a request with none. Static
// files, the health checks and the metrics stay open.
func TestProxyRefusesForgedHeaders(t *testing.T) {
	var log syncBuffer
	ts := newServer(t, 0, 0, proxyMode([]netip.Prefix{netip.MustParsePrefix("10.9.9.9/32")}, &log), func(o *web.Options) {
		o.Metrics, o.ServeMetrics = metrics.New(), true
	})
	cases := []struct {
		name string
		rt   http.RoundTripper
		lang string
		want string
	}{
		{"oauth2-proxy headers", asUser("boss@example.com"), "en", "did not come through it"},
		{"easy auth headers", easyAuth("boss@example.com", "email", "boss@example.com"), "en", "did not come through it"},
		{"no headers", http.DefaultTransport, "en", "did not come through it"},
		{"oauth2-proxy headers, Japanese", asUser("boss@example.com"), "ja", "このリクエストはそこを通っていません"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &http.Client{Transport: tc.rt}
			for _, m := range []string{"GET", "POST"} {
				req, _ := http.NewRequest(m, ts.URL+"/", strings.NewReader("message=hi"))
				if m == "POST" {
					req.URL.Path = "/c"
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				req.Header.Set("Accept-Language", tc.lang)
				resp, body := doPlain(t, c, req)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, tc.want) {
					t.Errorf("%s: %d %s", m, resp.StatusCode, body)
				}
				if strings.Contains(body, "boss@example.com") {
					t.Errorf("%s: the forged identity shows in the page", m)
				}
				if len(resp.Cookies()) > 0 {
					t.Errorf("%s: cookies set: %v", m, resp.Cookies())
				}
			}
		})
	}
	if got := log.String(); !strings.Contains(got, `msg="sign-in refused"`) || !strings.Contains(got, `reason="sign-in headers from an untrusted address"`) ||
		!strings.Contains(got, `reason="not through the trusted proxy"`) || !strings.Contains(got, "peer=127.0.0.1:") {
		t.Errorf("log:\n%s", got)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp, _ := doPlain(t, http.DefaultClient, mustReq("GET", ts.URL+p)); resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

// TestProxyRefusesMissingIdentity: a request through the trusted proxy
// with no signed-in person is refused too: there is no default user.
func TestProxyRefusesMissingIdentity(t *testing.T) {
	var log syncBuffer
	ts := newServer(t, 0, 0, proxyMode(loopback, &log))
	for _, rt := range []http.RoundTripper{
		http.DefaultTransport,
		headerTransport{http.Header{"X-Forwarded-Email": {" "}}},
		headerTransport{http.Header{"X-Ms-Client-Principal": {"not base64!"}}},
		headerTransport{http.Header{"X-Ms-Client-Principal": {base64.StdEncoding.EncodeToString([]byte("alice"))}}},
		headerTransport{http.Header{"X-Ms-Client-Principal": {base64.StdEncoding.EncodeToString([]byte(`{"claims":[]}`))}}},
	} {
		resp, body := doPlain(t, &http.Client{Transport: rt}, mustReq("GET", ts.URL+"/"))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "without a signed-in user") {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	}
	if got := log.String(); !strings.Contains(got, "no sign-in header from the trusted proxy") ||
		!strings.Contains(got, "X-MS-CLIENT-PRINCIPAL is not base64") ||
		!strings.Contains(got, "X-MS-CLIENT-PRINCIPAL is not JSON") || !strings.Contains(got, "X-MS-CLIENT-PRINCIPAL names nobody") {
		t.Errorf("log:\n%s", got)
	}
}

// TestProxyConversationsBelongToPeople: two browsers of the same person
// (one through oauth2-proxy, one through Easy Auth, the email in other
// letter case) see the same conversations; another person sees none of
// them and gets 404 on their URLs. No session cookie is set.
func TestProxyConversationsBelongToPeople(t *testing.T) {
	ts := newServer(t, 0, 0, proxyMode(loopback, nil))
	laptop := client()
	laptop.Transport = asUser("Alice@Example.com")
	phone := client()
	phone.Transport = easyAuth("alice@example.com", "name", "Alice Liddell", "email", "alice@example.com", "roles", "Chat.User")
	bob := client()
	bob.Transport = asUser("bob@example.com")

	resp, body := postForm(t, laptop, ts, "/c", url.Values{"message": {"laptop question"}}, "")
	conv, ok := strings.CutPrefix(resp.Header.Get("HX-Push-Url"), "/c/")
	if resp.StatusCode != 200 || !ok {
		t.Fatalf("POST /c: %d %s", resp.StatusCode, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "hxchat_session" {
			t.Errorf("a session cookie was set: %v", c)
		}
	}
	resp, body = get(t, phone, ts.URL+"/c/"+conv)
	if resp.StatusCode != 200 || !strings.Contains(body, "laptop question") {
		t.Errorf("phone: GET /c/%s: %d", conv, resp.StatusCode)
	}
	// The phone adds to it; the laptop's list shows it, with the phone's
	// message.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, body := postForm(t, phone, ts, "/c/"+conv+"/messages", url.Values{"message": {"phone question"}}, "")
		if resp.StatusCode == 200 {
			break
		}
		if resp.StatusCode != http.StatusConflict || time.Now().After(deadline) { // 409: the first answer is still being written
			t.Fatalf("phone: POST: %d %s", resp.StatusCode, body)
		}
	}
	resp, body = get(t, laptop, ts.URL+"/c/"+conv)
	if resp.StatusCode != 200 || !strings.Contains(body, "phone question") || !strings.Contains(body, `href="/c/`+conv+`"`) {
		t.Errorf("laptop: GET /c/%s: %d", conv, resp.StatusCode)
	}
	// Who is signed in shows, with the sign-out link of the proxy.
	_, page := get(t, phone, ts.URL+"/")
	for _, want := range []string{"Signed in as <strong>Alice Liddell</strong>", "alice@example.com", `href="/oauth2/sign_out"`, "Sign out"} {
		if !strings.Contains(page, want) {
			t.Errorf("phone's page lacks %s", want)
		}
	}
	req := mustReq("GET", ts.URL+"/")
	req.Header.Set("Accept-Language", "ja")
	if _, page := doPlain(t, laptop, req); !strings.Contains(page, "サインイン中: <strong>alice@example.com</strong>") || !strings.Contains(page, "サインアウト") {
		t.Errorf("laptop's page in Japanese lacks who is signed in")
	}

	// Bob sees nothing of Alice's.
	for _, p := range []string{"/c/" + conv, "/c/" + conv + "/export/md", "/c/" + conv + "/item"} {
		if resp, _ := get(t, bob, ts.URL+p); resp.StatusCode != 404 {
			t.Errorf("bob: GET %s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := postForm(t, bob, ts, "/c/"+conv+"/delete", nil, ""); resp.StatusCode != 404 {
		t.Errorf("bob: delete: %d", resp.StatusCode)
	}
	_, page = get(t, bob, ts.URL+"/")
	if strings.Contains(page, conv) || strings.Contains(page, "laptop question") || !strings.Contains(page, "bob@example.com") {
		t.Errorf("bob's page shows Alice's conversation or not bob")
	}
	_, list := get(t, bob, ts.URL+"/conversations?q=question")
	if strings.Contains(list, conv) {
		t.Errorf("bob's search finds Alice's conversation")
	}
}

// TestAnonymousIgnoresIdentityHeaders: without -auth proxy, sign-in headers
// are nobody's identity: the page shows nobody signed in, and a browser
// gets a session of its own.
func TestAnonymousIgnoresIdentityHeaders(t *testing.T) {
	ts := newServer(t, 0, 0)
	c := client()
	c.Transport = asUser("alice@example.com")
	resp, body := postForm(t, c, ts, "/c", url.Values{"message": {"hi"}}, "")
	if resp.StatusCode != 200 {
		t.Fatalf("POST /c: %d %s", resp.StatusCode, body)
	}
	var sid bool
	for _, ck := range resp.Cookies() {
		sid = sid || ck.Name == "hxchat_session"
	}
	if !sid {
		t.Error("no session cookie")
	}
	other := client()
	other.Transport = asUser("alice@example.com")
	if resp, _ := get(t, other, ts.URL+resp.Header.Get("HX-Push-Url")); resp.StatusCode != 404 {
		t.Errorf("another browser with the same header: %d, want 404", resp.StatusCode)
	}
	if _, page := get(t, c, ts.URL+"/"); strings.Contains(page, "alice@example.com") || strings.Contains(page, "Signed in") {
		t.Error("the page shows the header's identity")
	}
}

func mustReq(method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return req
}

// doPlain sends req as a browser's navigation (not htmx) and reads the body.
func doPlain(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}
