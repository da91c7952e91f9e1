package web

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// The headers a signing-in proxy sets: oauth2-proxy's, and those of App
// Service and Container Apps authentication (Easy Auth).
const (
	hdrForwardedEmail  = "X-Forwarded-Email"
	hdrForwardedUser   = "X-Forwarded-User"
	hdrForwardedGroups = "X-Forwarded-Groups"
	hdrForwardedName   = "X-Forwarded-Preferred-Username"
	hdrMSPrincipal     = "X-MS-CLIENT-PRINCIPAL"
	hdrMSPrincipalName = "X-MS-CLIENT-PRINCIPAL-NAME"
)

// proxyUsers takes the person from the headers of the signing-in proxy, and
// only from a request whose peer is a trusted proxy. Any other request is
// refused with 403 and a page that says what to do: there is never a
// default user.
func (s *Server) proxyUsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.fromTrustedProxy(r) {
			reason := "not through the trusted proxy"
			if hasIdentityHeader(r) {
				reason = "sign-in headers from an untrusted address"
			}
			s.refuseSignIn(w, r, http.StatusForbidden, "signin.untrusted", reason, "")
			return
		}
		id, reason := proxyIdentity(r.Header)
		if id == nil {
			s.refuseSignIn(w, r, http.StatusForbidden, "signin.missing", reason, "")
			return
		}
		id.Admin = s.o.SignIn.AdminGroup != "" && slices.Contains(id.Groups, s.o.SignIn.AdminGroup)
		next.ServeHTTP(w, withIdentity(r, id))
	})
}

// fromTrustedProxy reports whether the request's peer (the connection's
// own address, never a header) is one of the trusted proxies.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range s.o.SignIn.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func hasIdentityHeader(r *http.Request) bool {
	for _, h := range []string{hdrForwardedEmail, hdrForwardedUser, hdrForwardedGroups, hdrMSPrincipal, hdrMSPrincipalName} {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}

// msPrincipal is the JSON of X-MS-CLIENT-PRINCIPAL.
type msPrincipal struct {
	AuthType string `json:"auth_typ"`
	NameType string `json:"name_typ"`
	RoleType string `json:"role_typ"`
	Claims   []struct {
		Type  string `json:"typ"`
		Value string `json:"val"`
	} `json:"claims"`
}

// Claim types of Easy Auth principals, in order of preference.
var (
	msEmailClaims = []string{"email", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
		"preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn"}
	msNameClaims  = []string{"name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"}
	msGroupClaims = []string{"groups", "roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
		"http://schemas.microsoft.com/ws/2008/06/identity/claims/role"}
)

// proxyIdentity reads the person from a trusted proxy's headers: Easy
// Auth's principal when there is one, else oauth2-proxy's headers. Without
// a usable one it returns nil and why.
func proxyIdentity(h http.Header) (*Identity, string) {
	if enc := h.Get(hdrMSPrincipal); enc != "" {
		return easyAuthIdentity(enc, h.Get(hdrMSPrincipalName))
	}
	id := &Identity{Source: "proxy"}
	if name := h.Get(hdrMSPrincipalName); name != "" { // Easy Auth without its principal
		id.Name = name
		id.Subject = name
		if strings.Contains(name, "@") {
			id.Email = strings.ToLower(name)
			id.Subject = id.Email
		}
		return id, ""
	}
	id.Email = strings.ToLower(strings.TrimSpace(h.Get(hdrForwardedEmail)))
	user := strings.TrimSpace(h.Get(hdrForwardedUser))
	id.Name = strings.TrimSpace(h.Get(hdrForwardedName))
	for _, g := range strings.Split(h.Get(hdrForwardedGroups), ",") {
		if g = strings.TrimSpace(g); g != "" {
			id.Groups = append(id.Groups, g)
		}
	}
	switch {
	case id.Email != "":
		id.Subject = id.Email
	case user != "":
		id.Subject = user
		if id.Name == "" {
			id.Name = user
		}
	default:
		return nil, "no sign-in header from the trusted proxy"
	}
	return id, ""
}

// easyAuthIdentity decodes X-MS-CLIENT-PRINCIPAL: base64 of JSON with the
// claims of the signed-in person.
func easyAuthIdentity(enc, principalName string) (*Identity, string) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "=")); err != nil {
			return nil, "X-MS-CLIENT-PRINCIPAL is not base64"
		}
	}
	var p msPrincipal
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, "X-MS-CLIENT-PRINCIPAL is not JSON"
	}
	first := func(types []string) string {
		for _, t := range types {
			for _, c := range p.Claims {
				if c.Type == t && strings.TrimSpace(c.Value) != "" {
					return strings.TrimSpace(c.Value)
				}
			}
		}
		return ""
	}
	id := &Identity{Source: "proxy", Name: first(msNameClaims)}
	if e := first(msEmailClaims); strings.Contains(e, "@") {
		id.Email = strings.ToLower(e)
	}
	groupTypes := msGroupClaims
	if p.RoleType != "" {
		groupTypes = append(groupTypes[:len(groupTypes):len(groupTypes)], p.RoleType)
	}
	for _, c := range p.Claims {
		for _, t := range groupTypes {
			if c.Type == t && c.Value != "" {
				id.Groups = append(id.Groups, c.Value)
				break
			}
		}
	}
	switch {
	case id.Email != "":
		id.Subject = id.Email
	case principalName != "":
		id.Subject = principalName
	default:
		if n := first([]string{p.NameType}); n != "" {
			id.Subject = n
		} else {
			return nil, "X-MS-CLIENT-PRINCIPAL names nobody"
		}
	}
	if id.Name == "" {
		id.Name = cmp.Or(principalName, id.Subject)
	}
	return id, ""
}
