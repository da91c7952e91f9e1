package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxGraphBody bounds the answer of Microsoft Graph read at sign-in: the
// ids of a person's groups, about 40 bytes each, for tens of thousands.
const maxGraphBody = 4 << 20

// overage reports whether the ID token says that the person is in more
// groups than it lists (Entra ID's groups overage): a "groups" entry in
// _claim_names, or hasgroups, which the implicit flow sends instead.
func (c *claims) overage() bool {
	return c.ClaimNames.Groups != "" || c.HasGroups
}

// graphGroups asks Microsoft Graph for every group, directory role and
// administrative unit the signed-in person is a member of, transitively
// (POST /v1.0/me/getMemberObjects), with the access token of the sign-in.
// The endpoint in the token's _claim_sources is not used: it is the retired
// Azure AD Graph's, and hxchat asks only the Graph it is configured with.
func (o *OIDC) graphGroups(ctx context.Context, accessToken string) ([]string, error) {
	if accessToken == "" {
		return nil, errors.New("the provider returned no access token")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.graphURL()+"/v1.0/me/getMemberObjects",
		bytes.NewReader([]byte(`{"securityEnabledOnly":false}`)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := o.o.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGraphBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxGraphBody {
		return nil, fmt.Errorf("the answer is over %d MiB", maxGraphBody>>20)
	}
	if resp.StatusCode != http.StatusOK {
		// Graph says why in {"error": {"code", "message"}}: a missing
		// permission is Authorization_RequestDenied.
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(body, &e)
		return nil, fmt.Errorf("HTTP %d %s %s", resp.StatusCode, e.Error.Code, strings.TrimSpace(e.Error.Message))
	}
	var v struct {
		Value []string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("unreadable answer: %w", err)
	}
	return v.Value, nil
}

// graphURL is the root of Microsoft Graph.
func (o *OIDC) graphURL() string {
	if o.o.GraphURL == "" {
		return "https://graph.microsoft.com"
	}
	return strings.TrimRight(o.o.GraphURL, "/")
}
