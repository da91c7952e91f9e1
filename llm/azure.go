package llm

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/hxchat/hxchat"
	"github.com/openai/openai-go/v3/azure"
	"github.com/openai/openai-go/v3/option"
)

// AzureOptions configure an Azure OpenAI deployment, with the names of the
// seed app's .env: AZURE_OPENAI_ENDPOINT, _API_KEY, _API_VERSION, _DEPLOYMENT.
type AzureOptions struct {
	// Endpoint is the resource URL, e.g. "https://NAME.openai.azure.com",
	// optionally with a path prefix (an API gateway). An Azure v1 URL
	// (ending in /openai/v1) is used as a base URL as it is.
	Endpoint string
	// APIKey is sent in the Api-Key header. Exactly one of APIKey and
	// Credential is set.
	APIKey string
	// Credential, instead of a key, signs in with Entra ID: each request
	// carries "Authorization: Bearer <token>" for EntraScope. The SDK asks
	// it for a token on every request: wrap it with ReuseTokens.
	Credential azcore.TokenCredential
	// APIVersion, e.g. "2024-10-21", is required except for v1 URLs, which
	// send it only when it is "preview" or "latest".
	APIVersion string
	Deployment string // the deployment name, sent as the model
	Common
}

// NewAzure returns a provider for an Azure OpenAI deployment. Requests go
// to {Endpoint}/openai/deployments/{Deployment}/chat/completions?api-version=…
// with the key in the Api-Key header, or with a token of Credential in the
// Authorization header.
//
// HTTPS endpoints and plain-HTTP loopback endpoints (tests, a local proxy) go
// through the SDK's azure package. A plain-HTTP endpoint on any other host
// (a gateway on the LAN) is built by hand with the same URL and header,
// because the SDK refuses to send Azure credentials over HTTP to a
// non-loopback host even with azure.WithUnsafeAllowHTTP. (For plain-HTTP
// loopback the SDK dials directly: HTTPClient's transport and proxy are not
// used.)
func NewAzure(o AzureOptions) (hxchat.Provider, error) {
	u, err := parseEndpoint(o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("llm: azure endpoint: %w", err)
	}
	switch {
	case o.APIKey == "" && o.Credential == nil:
		return nil, errors.New("llm: azure: the API key is empty, and there is no Entra ID credential")
	case o.APIKey != "" && o.Credential != nil:
		return nil, errors.New("llm: azure: both an API key and an Entra ID credential are given")
	case o.Deployment == "":
		return nil, errors.New("llm: azure: the deployment is empty")
	}
	endpoint := strings.TrimSuffix(u.String(), "/")
	v1 := strings.HasSuffix(endpoint, "/openai/v1")
	if !v1 {
		endpoint = strings.TrimSuffix(endpoint, "/openai") // a common slip: the SDK adds /openai
	}
	if o.APIVersion == "" && !v1 {
		return nil, errors.New("llm: azure: the API version is empty (for example 2024-10-21)")
	}

	// auth sets the key or the token where the SDK's azure package cannot.
	var cred azcore.TokenCredential
	auth := func() option.RequestOption { return option.WithHeader("Api-Key", o.APIKey) }
	if o.Credential != nil {
		cred = markFailures{o.Credential}
		auth = func() option.RequestOption { return withBearer(cred) }
	}
	opts := o.requestOptions()
	switch {
	case v1:
		// The v1 API takes the model in the body, like OpenAI, and the key
		// in Api-Key or the token in Authorization; azure.WithEndpoint would
		// add /openai/deployments/… (and azure.WithTokenCredential needs it).
		opts = append(opts, option.WithBaseURL(endpoint+"/"), auth())
		if o.APIVersion == "preview" || o.APIVersion == "latest" {
			opts = append(opts, option.WithQuery("api-version", o.APIVersion))
		}
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		opts = append(opts,
			option.WithBaseURL(endpoint+"/openai/deployments/"+url.PathEscape(o.Deployment)+"/"),
			option.WithQuery("api-version", o.APIVersion),
			auth())
	default:
		opts = append(opts, azure.WithEndpoint(endpoint, o.APIVersion))
		if cred != nil {
			opts = append(opts, azure.WithTokenCredential(cred)) // scope EntraScope, its default
		} else {
			opts = append(opts, azure.WithAPIKey(o.APIKey))
		}
		if u.Scheme == "http" {
			opts = append(opts, azure.WithUnsafeAllowHTTP())
		}
	}
	check := "check AZURE_OPENAI_API_KEY: a key of the resource at " + endpoint + " (Azure portal: the resource, Keys and Endpoint)"
	if cred != nil {
		check = "check the Entra ID identity hxchat runs as: it needs the role Cognitive Services OpenAI User on the resource at " + endpoint
	}
	return o.provider("Azure OpenAI · "+o.Deployment, o.Deployment, o.APIKey, opts, settingsToCheck{
		auth: check,
		notFound: fmt.Sprintf("check AZURE_OPENAI_ENDPOINT (%s), AZURE_OPENAI_DEPLOYMENT (%q, a deployment's name, not the model's) and AZURE_OPENAI_API_VERSION (%q)",
			endpoint, o.Deployment, o.APIVersion),
	}), nil
}

// parseEndpoint checks that s is an absolute http(s) URL without query or
// credentials.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case s == "":
		return nil, errors.New("empty")
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: the scheme must be http or https", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("%q: no host", u.Redacted())
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%q: no user, query or fragment allowed", u.Redacted())
	}
	return u, nil
}

// isLoopback matches the SDK's notion of a loopback host for plain HTTP.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
