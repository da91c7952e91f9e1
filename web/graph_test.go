package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hxchat/hxchat/internal/oidctest"
	"github.com/hxchat/hxchat/web"
)

// overage is Entra ID's ID token of a person in too many groups: no groups,
// but where to get them (Azure AD Graph's address, which hxchat does not
// use).
var overage = map[string]any{"sub": "many", "name": "Many Groups", "_claim_names": map[string]string{"groups": "src1"},
	"_claim_sources": map[string]any{"src1": map[string]string{"endpoint": "https://graph.windows.net/tenant/users/many/getMemberObjects"}}}

// fakeGraph is Microsoft Graph's POST /v1.0/me/getMemberObjects: it
// answers the groups of the person whose access token (issued by the
// provider given to trust) it is given, or with status and Graph's error
// when status is not 200.
type fakeGraph struct {
	*httptest.Server
	mu       sync.Mutex
	idp      *oidctest.Provider
	calls    int
	subjects []string
}

func startGraph(t *testing.T, status int, groups map[string][]string) *fakeGraph {
	g := &fakeGraph{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.calls++
		g.mu.Unlock()
		var body struct {
			SecurityEnabledOnly *bool `json:"securityEnabledOnly"`
		}
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		g.mu.Lock()
		idp := g.idp
		g.mu.Unlock()
		sub, err := idp.AccessTokenSubject(tok)
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/v1.0/me/getMemberObjects":
			http.Error(w, "no such endpoint", http.StatusNotFound)
			return
		case json.NewDecoder(r.Body).Decode(&body) != nil || body.SecurityEnabledOnly == nil:
			http.Error(w, "securityEnabledOnly is required", http.StatusBadRequest)
			return
		case err != nil:
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure."}}`))
			return
		case status != http.StatusOK:
			w.WriteHeader(status)
			w.Write([]byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`))
			return
		}
		g.mu.Lock()
		g.subjects = append(g.subjects, sub)
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"value": groups[sub]})
	}))
	t.Cleanup(g.Close)
	return g
}

// trust makes g accept the access tokens of idp.
func (g *fakeGraph) trust(idp *oidctest.Provider) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.idp = idp
}

// asked returns how often g was called, and the subjects it answered.
func (g *fakeGraph) asked() (int, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls, append([]string(nil), g.subjects...)
}

// TestOIDCGroupsOverage: a person in too many groups for Entra ID's token
// (_claim_names, or hasgroups) is looked up in Microsoft Graph with the
// access token of their sign-in, and signs in by a group found there, as
// administrator if the admin group is one; Graph is asked only when groups
// decide something the token cannot.
func TestOIDCGroupsOverage(t *testing.T) {
	hasGroups := map[string]any{"sub": "many", "name": "Many Groups", "hasgroups": true}
	for name, claims := range map[string]map[string]any{"_claim_names": overage, "hasgroups": hasGroups} {
		t.Run(name, func(t *testing.T) {
			graph := startGraph(t, http.StatusOK, map[string][]string{"many": {"g-1", "chat-users", "g-2", "chat-admins"}})
			ts, idp, log := oidcServer(t, claims, func(o *web.OIDCOptions) {
				o.AllowedGroups, o.AdminGroup, o.GraphURL = []string{"chat-users"}, "chat-admins", graph.URL
			})
			graph.trust(idp)
			c := browser()
			if resp, body := signIn(t, ts, c, "/"); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("callback: %d %s\n%s", resp.StatusCode, clip(body), log)
			}
			if _, page := get(t, c, ts.URL+"/"); !strings.Contains(page, "Many Groups") || !strings.Contains(page, "administrator") {
				t.Error("the page does not show Many Groups as administrator")
			}
			if n, subs := graph.asked(); n != 1 || len(subs) != 1 || subs[0] != "many" {
				t.Errorf("Graph asked %d times, for %v", n, subs)
			}
		})
	}
	t.Run("not in an allowed group", func(t *testing.T) {
		graph := startGraph(t, http.StatusOK, map[string][]string{"many": {"g-1", "g-2"}})
		ts, idp, log := oidcServer(t, overage, func(o *web.OIDCOptions) { o.AllowedGroups, o.GraphURL = []string{"chat-users"}, graph.URL })
		graph.trust(idp)
		resp, body := signIn(t, ts, browser(), "/")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "in none of the groups") || cookieOf(resp, "hxchat_signin") != nil {
			t.Errorf("callback: %d %s", resp.StatusCode, clip(body))
		}
		if !strings.Contains(log.String(), "in none of the allowed groups") {
			t.Errorf("log:\n%s", log)
		}
	})
	t.Run("no group decides", func(t *testing.T) {
		// Nobody is required to be in a group, and the token's roles make
		// the administrator: Graph is never asked.
		claims := map[string]any{"sub": "many", "name": "Many Groups", "hasgroups": true, "roles": []string{"Chat.Admin"}}
		graph := startGraph(t, http.StatusOK, nil)
		for _, groups := range []string{"", "Chat.Admin"} {
			ts, idp, _ := oidcServer(t, claims, func(o *web.OIDCOptions) {
				if groups != "" {
					o.AllowedGroups, o.AdminGroup = []string{groups}, groups
				}
				o.GraphURL = graph.URL
			})
			graph.trust(idp)
			if resp, body := signIn(t, ts, browser(), "/"); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("callback: %d %s", resp.StatusCode, clip(body))
			}
			if n, _ := graph.asked(); n != 0 {
				t.Errorf("Graph asked %d times", n)
			}
		}
	})
}

// TestOIDCGroupsOverageGraphFails: when Microsoft Graph cannot be asked
// (a permission missing, or no answer), a person in too many groups is
// refused with a page that says to try again or ask the administrator, in
// English and Japanese, and a log line that says what Graph answered; no
// session is made.
func TestOIDCGroupsOverageGraphFails(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		closed  bool
		logWant string
	}{
		{"permission missing", http.StatusForbidden, false, "HTTP 403 Authorization_RequestDenied Insufficient privileges"},
		{"no answer", http.StatusOK, true, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for lang, want := range map[string]string{"en": "hxchat could not look them up in your organisation", "ja": "組織のディレクトリで確認することもできなかった"} {
				graph := startGraph(t, tc.status, nil)
				if tc.closed {
					graph.Close()
				}
				ts, idp, log := oidcServer(t, overage, func(o *web.OIDCOptions) { o.AllowedGroups, o.GraphURL = []string{"chat-users"}, graph.URL })
				graph.trust(idp)
				c := browser()
				resp := step(t, c, ts.URL+"/auth/signin?next=/", http.StatusSeeOther)
				resp = step(t, c, abs(resp), http.StatusFound)
				req := mustReq("GET", abs(resp))
				req.Header.Set("Accept-Language", lang)
				resp, body := doPlain(t, c, req)
				if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, want) || cookieOf(resp, "hxchat_signin") != nil {
					t.Errorf("%s: %d %s", lang, resp.StatusCode, clip(body))
				}
				if got := log.String(); !strings.Contains(got, `msg="sign-in refused"`) || !strings.Contains(got, "groups overage: Microsoft Graph could not be asked") ||
					!strings.Contains(got, tc.logWant) {
					t.Errorf("log lacks %s:\n%s", tc.logWant, got)
				}
			}
		})
	}
}
