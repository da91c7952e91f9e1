package config

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestAuthModes(t *testing.T) {
	cfg, _ := load(t, []string{"-auth", "proxy", "-trusted-proxies", "10.0.0.5, 10.1.0.0/16,::1", "-signout-url", "/oauth2/sign_out", "-proxy-admin-group", "chat-admins"}, nil, "")
	want := Auth{Mode: AuthProxy, SignOutURL: "/oauth2/sign_out", ProxyAdminGroup: "chat-admins", TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("::1/128")}}
	if !reflect.DeepEqual(cfg.Auth, want) {
		t.Errorf("proxy: got %#v\nwant %#v", cfg.Auth, want)
	}

	cfg, _ = load(t, nil, map[string]string{
		"HXCHAT_AUTH":                 "OIDC",
		"HXCHAT_OIDC_ISSUER":          "https://login.microsoftonline.com/0000-tenant/v2.0/",
		"HXCHAT_OIDC_CLIENT_ID":       "app",
		"HXCHAT_OIDC_CLIENT_SECRET":   "s3cr3t-value-long",
		"HXCHAT_OIDC_REDIRECT_URL":    "https://chat.example.com/auth/callback",
		"HXCHAT_OIDC_ALLOWED_DOMAINS": "Example.com, example.org",
		"HXCHAT_OIDC_ALLOWED_GROUPS":  "g1,g2",
		"HXCHAT_OIDC_ADMIN_GROUP":     "admins",
		"HXCHAT_OIDC_SCOPES":          "User.Read, offline_access groups",
	}, "")
	wantO := OIDC{Issuer: "https://login.microsoftonline.com/0000-tenant/v2.0", ClientID: "app", ClientSecret: "s3cr3t-value-long",
		RedirectURL: "https://chat.example.com/auth/callback", AllowedDomains: []string{"example.com", "example.org"},
		AllowedGroups: []string{"g1", "g2"}, AdminGroup: "admins", Scopes: []string{"User.Read", "offline_access", "groups"},
		GraphURL: "https://graph.microsoft.com"}
	if cfg.Auth.Mode != AuthOIDC || !reflect.DeepEqual(cfg.Auth.OIDC, wantO) {
		t.Errorf("oidc: got %#v", cfg.Auth)
	}
	// Microsoft Graph of a national cloud; its default is no setting of
	// another mode.
	cfg, _ = load(t, []string{"-auth", "oidc", "-oidc-issuer", "https://login.microsoftonline.us/t/v2.0", "-oidc-client-id", "app",
		"-oidc-redirect-url", "https://chat.example.com/auth/callback", "-oidc-graph-url", "https://graph.microsoft.us/"}, nil, "")
	if got := cfg.Auth.OIDC.GraphURL; got != "https://graph.microsoft.us" {
		t.Errorf("-oidc-graph-url: %q", got)
	}
	if s := cfg.String(); !strings.Contains(s, "auth=oidc") || strings.Contains(s, "s3cr3t") {
		t.Errorf("String() = %s", s)
	}
}

func TestAuthErrors(t *testing.T) {
	oidc := []string{"-auth", "oidc", "-oidc-client-id", "app", "-oidc-redirect-url", "https://chat.example.com/auth/callback"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown mode", []string{"-auth", "saml"}, `HXCHAT_AUTH (-auth, set by the flag) is "saml": use none or proxy or oidc`},
		{"proxy without trusted proxies", []string{"-auth", "proxy"}, "HXCHAT_TRUSTED_PROXIES (-trusted-proxies) is empty, but HXCHAT_AUTH (-auth, set by the flag) is proxy"},
		{"bad cidr", []string{"-auth", "proxy", "-trusted-proxies", "10.0.0.0/33"}, `has "10.0.0.0/33", which is neither an address nor a CIDR`},
		{"proxy setting without proxy", []string{"-trusted-proxies", "10.0.0.1"}, "is set, but HXCHAT_AUTH (-auth) is \"none\": it is used only with HXCHAT_AUTH=proxy"},
		{"oidc setting with proxy", []string{"-auth", "proxy", "-trusted-proxies", "10.0.0.1", "-oidc-issuer", "https://x"}, "HXCHAT_OIDC_ISSUER (-oidc-issuer, set by the flag) is set, but"},
		{"oidc without issuer", oidc, "HXCHAT_OIDC_ISSUER (-oidc-issuer) is empty, but HXCHAT_AUTH (-auth, set by the flag) is oidc"},
		{"entra common", append(oidc, "-oidc-issuer", "https://login.microsoftonline.com/common/v2.0"), "uses the multi-tenant endpoint /common"},
		{"entra organizations", append(oidc, "-oidc-issuer", "https://login.microsoftonline.com/organizations/v2.0"), "/organizations"},
		{"oidc without client id", []string{"-auth", "oidc", "-oidc-issuer", "https://idp.example.com", "-oidc-redirect-url", "https://c/auth/callback"}, "HXCHAT_OIDC_CLIENT_ID (-oidc-client-id) is empty"},
		{"oidc without redirect", []string{"-auth", "oidc", "-oidc-issuer", "https://idp.example.com", "-oidc-client-id", "x"}, "HXCHAT_OIDC_REDIRECT_URL (-oidc-redirect-url) is empty"},
		{"graph url", append(oidc, "-oidc-issuer", "https://idp.example.com", "-oidc-graph-url", "graph.microsoft.com"), "HXCHAT_OIDC_GRAPH_URL (-oidc-graph-url, set by the flag) is not an absolute http(s) URL"},
		{"graph url without oidc", []string{"-oidc-graph-url", "https://graph.microsoft.us"}, "HXCHAT_OIDC_GRAPH_URL (-oidc-graph-url, set by the flag) is set, but"},
		{"oidc redirect path", []string{"-auth", "oidc", "-oidc-issuer", "https://idp.example.com", "-oidc-client-id", "x", "-oidc-redirect-url", "https://c.example.com/callback"}, `has the path "/callback"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load(tt.args, nil, "", &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant a line with %s", err, tt.want)
			}
		})
	}
}
