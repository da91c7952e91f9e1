package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/openai/openai-go/v3/option"
)

// Azure OpenAI with Entra ID instead of a key.
//
// The credential reaches the SDK through azure.WithTokenCredential, which
// sends "Authorization: Bearer <token>" with the scope EntraScope. That
// option builds a new azcore bearer-token policy for every request (the
// SDK applies its options per request), so it asks the credential for a
// token on every request and caches nothing between them. azidentity's
// service-principal, workload and managed identities keep tokens in MSAL's
// cache, but the Azure CLI credential runs `az account get-access-token`
// on every call: ReuseTokens keeps one token until shortly before it
// expires, whatever the source.

// EntraScope is the scope of the tokens Azure OpenAI accepts.
const EntraScope = "https://cognitiveservices.azure.com/.default"

// EntraCheckTimeout bounds the token that hxchat gets at start-up to find
// out whether the credential works. The Azure CLI alone may take seconds.
const EntraCheckTimeout = 20 * time.Second

// entraSources says what DefaultAzureCredential tries, in its order, and
// what each needs; entraFix says what to do when none works.
const (
	entraSources = "DefaultAzureCredential tries, in order, the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), " +
		"workload identity (AZURE_FEDERATED_TOKEN_FILE), managed identity (on Azure; AZURE_CLIENT_ID picks a user-assigned one), " +
		"the Azure CLI (az login), the Azure Developer CLI (azd auth login) and Azure PowerShell"
	entraFix = "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET of a service principal, " +
		"give the machine a managed identity, or run az login; the identity needs the role " +
		"Cognitive Services OpenAI User on the resource (or set AZURE_OPENAI_API_KEY to use a key)"
)

// DefaultCredential returns azidentity's DefaultAzureCredential, which
// tries, in order: a service principal from the environment
// (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or
// AZURE_CLIENT_CERTIFICATE_PATH), workload identity, managed identity, the
// Azure CLI, the Azure Developer CLI and Azure PowerShell
// (AZURE_TOKEN_CREDENTIALS narrows the list). It gets no token yet: see
// CheckCredential.
func DefaultCredential() (azcore.TokenCredential, error) {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("azure: Entra ID: %s: %s", oneLine(err.Error()), entraFix)
	}
	return cred, nil
}

// CheckCredential gets one token for Azure OpenAI from cred, within
// timeout, to find out at start-up whether the credential works. Its error
// is one line that says which sources DefaultAzureCredential tried, why
// they failed, and what to set.
func CheckCredential(ctx context.Context, cred azcore.TokenCredential, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{EntraScope}})
	switch {
	case err == nil && tok.Token == "":
		err = errors.New("the credential gave an empty token")
	case err == nil:
		return nil
	case ctx.Err() != nil:
		err = fmt.Errorf("no token within %s: %w", timeout, err)
	}
	return fmt.Errorf("azure: Entra ID gave no token for Azure OpenAI (%s): %s; %s", oneLine(err.Error()), entraSources, entraFix)
}

// oneLine joins the lines of an error text (azidentity lists one line per
// source it tried, and a token service's answer on several), and cuts it
// at 600 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 600 {
		s = strings.ToValidUTF8(s[:600], "") + "…"
	}
	return s
}

// ReuseTokens returns a credential that hands out cred's token again until
// five minutes before it expires (or, when cred says, from its RefreshOn
// time on), and then asks cred for a new one, as azcore's bearer-token
// policy does within one request. Requests with other scopes, a tenant or
// claims (a Continuous Access Evaluation challenge) always go to cred.
//
// Share one across every provider of a resource, so that they share its
// token.
func ReuseTokens(cred azcore.TokenCredential) azcore.TokenCredential {
	return &tokenCache{cred: cred, now: time.Now}
}

// refreshBefore is how long before its expiry a token is replaced, as in azcore.
const refreshBefore = 5 * time.Minute

// tokenCache is the credential of ReuseTokens.
type tokenCache struct {
	cred azcore.TokenCredential
	now  func() time.Time // tests move the clock

	mu     sync.Mutex // held while asking cred, so that one request asks at a time
	scopes []string   // of tok
	tok    azcore.AccessToken
}

// GetToken implements azcore.TokenCredential.
func (c *tokenCache) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if o.Claims != "" || o.TenantID != "" {
		return c.cred.GetToken(ctx, o)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	same := slices.Equal(c.scopes, o.Scopes)
	if same && c.tok.Token != "" && !c.due(now) {
		return c.tok, nil
	}
	tok, err := c.cred.GetToken(ctx, o)
	if err != nil {
		if same && c.tok.Token != "" && now.Before(c.tok.ExpiresOn.Add(-30*time.Second)) {
			return c.tok, nil // the old one still works: ask again next time
		}
		return azcore.AccessToken{}, err
	}
	c.scopes, c.tok = slices.Clone(o.Scopes), tok
	return tok, nil
}

// due reports whether the token held should be replaced at now.
func (c *tokenCache) due(now time.Time) bool {
	if !c.tok.RefreshOn.IsZero() && !now.Before(c.tok.RefreshOn) {
		return true
	}
	return !now.Before(c.tok.ExpiresOn.Add(-refreshBefore))
}

// credentialError is the cause of a request that went out without being
// sent: the credential gave no token.
type credentialError struct{ err error }

func (e *credentialError) Error() string { return "azure: Entra ID token: " + oneLine(e.err.Error()) }
func (e *credentialError) Unwrap() error { return e.err }

// NonRetriable tells azcore's pipeline not to try again (as it would not).
func (*credentialError) NonRetriable() {}

// markFailures makes the errors of cred *credentialError, so that Stream
// can say that signing in failed rather than that the service did.
type markFailures struct{ cred azcore.TokenCredential }

func (m markFailures) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := m.cred.GetToken(ctx, o)
	if err != nil {
		return tok, &credentialError{err}
	}
	if tok.Token == "" {
		return tok, &credentialError{errors.New("the credential gave an empty token")}
	}
	return tok, nil
}

// withBearer sends a token of cred in the Authorization header, for the
// request shapes that cannot use azure.WithEndpoint and so
// azure.WithTokenCredential (Azure's v1 API, a plain-HTTP gateway). No
// request goes out without a token.
func withBearer(cred azcore.TokenCredential) option.RequestOption {
	return option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		tok, err := cred.GetToken(req.Context(), policy.TokenRequestOptions{Scopes: []string{EntraScope}})
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		return next(req)
	})
}
