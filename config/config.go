// Package config reads the settings of hxchat into one typed, validated
// Config value.
//
// Every setting has a flag, an environment variable and a default, and may
// also be written in a .env file in the working directory (the seed app's
// .env works unchanged). A flag wins over the environment, the environment
// over .env, and .env over the default. An empty or blank value in the
// environment or in .env counts as unset; a flag given with an empty value
// (-openai-api-key=) sets the setting to empty.
//
// The model is chosen by what is configured: Azure OpenAI when
// AZURE_OPENAI_ENDPOINT is set, OpenAI or an OpenAI-compatible server when
// OPENAI_API_KEY or OPENAI_BASE_URL is set, and the offline demo model when
// neither is.
//
// API keys are held as Secret values, which never print: fmt, slog,
// encoding/json and the error messages of Load show only whether a key is set.
package config

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The values of Config.Provider.
const (
	ProviderAzure  = "azure"  // Azure OpenAI
	ProviderOpenAI = "openai" // OpenAI or an OpenAI-compatible server
	ProviderDemo   = "demo"   // the offline demo model
)

// Config is the whole configuration of hxchat. Load returns it validated.
//
// Printing a Config with fmt (%v, %+v, %s, %#v) or logging it with slog never
// shows an API key.
type Config struct {
	// Addr is the TCP address the HTTP server listens on, as host:port
	// (-addr, HXCHAT_ADDR, default "127.0.0.1:8080"; ":8080" listens on every
	// interface).
	Addr string
	// MetricsAddr, when set, is the TCP address of a listener of its own
	// for /metrics, which Addr then does not serve (-metrics-addr,
	// HXCHAT_METRICS_ADDR, like "127.0.0.1:9090"; empty: /metrics on Addr).
	MetricsAddr string
	// DataDir is the directory that holds the SQLite database
	// (-data, HXCHAT_DATA, default "data").
	DataDir string
	// DatabaseURL, when set, is the PostgreSQL database that holds the data
	// instead of SQLite: postgres://user:password@host:port/database
	// (-database-url, HXCHAT_DATABASE_URL; else DATABASE_URL when it is a
	// postgres:// URL). A Secret: it may hold a password.
	DatabaseURL Secret
	// Drain is how long answers that are still streaming may run on after a
	// shutdown signal before they are cut off (-drain, HXCHAT_DRAIN, default
	// 10s; 0 cuts them off at once).
	Drain time.Duration
	// LeaseTTL is, with PostgreSQL, how long a replica may be silent before
	// another replica takes its running answers and stores them interrupted
	// (-lease-ttl, HXCHAT_LEASE_TTL, default 15s, at least 1s). A Config
	// made by hand may leave it 0 for the default.
	LeaseTTL time.Duration
	// ReplicaURL is, with PostgreSQL, where the other replicas reach this
	// one, scheme and host only (-replica-url, HXCHAT_REPLICA_URL; empty:
	// http:// and the address the server listens on, or the host's first
	// non-loopback IPv4 when that address is unspecified, with its port).
	ReplicaURL string
	// IdleTimeout ends an answer when the model sends nothing for this long
	// (-idle-timeout, HXCHAT_IDLE_TIMEOUT, default 60s; 0 means no limit).
	IdleTimeout time.Duration
	// LogLevel is the lowest level that is logged
	// (-log-level, HXCHAT_LOG_LEVEL: debug, info, warn or error; default info).
	LogLevel slog.Level
	// LogFormat is "text" or "json" (-log-format, HXCHAT_LOG_FORMAT, default
	// "text").
	LogFormat string
	// SystemPrompt is sent first with every request to the model; empty sends
	// none (-system-prompt, SYSTEM_PROMPT).
	SystemPrompt string
	// MaxAnswersPerSession and MaxAnswers limit the answers running at once,
	// for one session and in all (-max-answers-per-session,
	// HXCHAT_MAX_ANSWERS_PER_SESSION, default 3; -max-answers,
	// HXCHAT_MAX_ANSWERS, default 1000; 0 means no limit).
	MaxAnswersPerSession, MaxAnswers int
	// MaxMessageBytes is the longest message a user may send
	// (-max-message-kib, HXCHAT_MAX_MESSAGE_KIB, in KiB: 1 to 1024, default
	// 32).
	MaxMessageBytes int
	// MaxStreamsPerSession limits the answer streams one session may have
	// open at once, across its tabs (-max-streams-per-session,
	// HXCHAT_MAX_STREAMS_PER_SESSION, default 20; 0 means no limit).
	MaxStreamsPerSession int
	// RequestRate is how many requests per second one session may make, in
	// bursts of ten seconds' worth; requests without a session count against
	// their address (-rate, HXCHAT_RATE, default 10; 0 means no limit).
	RequestRate float64
	// TrustProxy trusts X-Forwarded-For and X-Forwarded-Proto, set by a
	// reverse proxy in front (-trust-proxy, HXCHAT_TRUST_PROXY, default
	// false: a client could set them itself).
	TrustProxy bool
	// Models lists the models (or Azure deployments) users may pick per
	// conversation: the configured one first (AZURE_OPENAI_DEPLOYMENT or
	// OPENAI_MODEL), then those of -models, HXCHAT_MODELS, without repeats.
	// Empty with the demo model.
	Models []string
	// DemoRate is how many tokens per second the offline demo model writes;
	// 0 writes as fast as possible (-demo-rate, HXCHAT_DEMO_RATE, default 30).
	DemoRate float64

	// Azure holds the Azure OpenAI settings; it is in use when Azure.Endpoint
	// is set.
	Azure Azure
	// OpenAI holds the settings of OpenAI or an OpenAI-compatible server; it
	// is in use when OpenAI.APIKey or OpenAI.BaseURL is set.
	OpenAI OpenAI
	// Auth says how people sign in.
	Auth Auth
}

// The values of Auth.Mode.
const (
	AuthNone  = "none"  // anonymous browser sessions
	AuthProxy = "proxy" // a trusted reverse proxy signed people in
	AuthOIDC  = "oidc"  // hxchat signs people in with OpenID Connect
)

// Auth configures how people sign in. Load has checked that a proxy mode
// has TrustedProxies, and that an oidc mode has Issuer, ClientID and
// RedirectURL.
type Auth struct {
	// Mode is AuthNone, AuthProxy or AuthOIDC (-auth, HXCHAT_AUTH, default
	// none; "" in a Config made without Load means none).
	Mode string
	// TrustedProxies are the addresses whose sign-in headers are believed
	// in proxy mode (-trusted-proxies, HXCHAT_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// SignOutURL is the proxy's sign-out URL, linked from the page in proxy
	// mode (-signout-url, HXCHAT_SIGNOUT_URL).
	SignOutURL string
	// ProxyAdminGroup is the group whose members are administrators in
	// proxy mode (-proxy-admin-group, HXCHAT_PROXY_ADMIN_GROUP).
	ProxyAdminGroup string
	// OIDC holds the settings of oidc mode.
	OIDC OIDC
}

// OIDC configures sign-in with an OpenID Connect provider.
type OIDC struct {
	// Issuer is the provider's issuer URL (-oidc-issuer, HXCHAT_OIDC_ISSUER).
	Issuer string
	// ClientID and ClientSecret identify hxchat at the provider
	// (-oidc-client-id, HXCHAT_OIDC_CLIENT_ID; -oidc-client-secret,
	// HXCHAT_OIDC_CLIENT_SECRET, empty for a public client).
	ClientID     string
	ClientSecret Secret
	// RedirectURL is hxchat's public URL of /auth/callback
	// (-oidc-redirect-url, HXCHAT_OIDC_REDIRECT_URL).
	RedirectURL string
	// AllowedDomains, when not empty, are the email domains that may sign
	// in, in lower case (-oidc-allowed-domains, HXCHAT_OIDC_ALLOWED_DOMAINS).
	AllowedDomains []string
	// AllowedGroups, when not empty, are the groups (or app roles) whose
	// members may sign in (-oidc-allowed-groups, HXCHAT_OIDC_ALLOWED_GROUPS).
	AllowedGroups []string
	// AdminGroup is the group (or app role) of administrators
	// (-oidc-admin-group, HXCHAT_OIDC_ADMIN_GROUP).
	AdminGroup string
	// Scopes are requested besides openid, profile and email
	// (-oidc-scopes, HXCHAT_OIDC_SCOPES).
	Scopes []string
	// GraphURL is the root of Microsoft Graph, asked for the groups of a
	// person in too many groups for Entra ID's token (-oidc-graph-url,
	// HXCHAT_OIDC_GRAPH_URL; https://graph.microsoft.com by default).
	GraphURL string
}

// The values of Azure.Auth.
const (
	AzureAuthKey   = "key"   // the Api-Key header, with APIKey
	AzureAuthEntra = "entra" // Entra ID tokens, from azidentity's DefaultAzureCredential
)

// Azure configures Azure OpenAI. When Endpoint is set, Load has checked that
// APIVersion and Deployment are set too, and that APIKey is set when Auth is
// AzureAuthKey.
type Azure struct {
	// Endpoint is the resource endpoint, like https://NAME.openai.azure.com/
	// (-azure-endpoint, AZURE_OPENAI_ENDPOINT).
	Endpoint string
	// APIKey is a key of the resource (-azure-api-key, AZURE_OPENAI_API_KEY).
	APIKey Secret
	// Auth says how hxchat signs in: AzureAuthKey or AzureAuthEntra
	// (-azure-auth, AZURE_OPENAI_AUTH; by default key when APIKey is set,
	// else entra). Load sets it when Endpoint is set; see UsesEntra.
	Auth string
	// APIVersion is the REST API version sent as api-version
	// (-azure-api-version, AZURE_OPENAI_API_VERSION, default "2024-10-21").
	APIVersion string
	// Deployment is the name of the model deployment
	// (-azure-deployment, AZURE_OPENAI_DEPLOYMENT).
	Deployment string
}

// OpenAI configures OpenAI or an OpenAI-compatible server (Ollama, vLLM,
// llama.cpp server, LM Studio, LiteLLM, OpenRouter). When it is in use, Load
// has checked that Model is set, and that APIKey is set unless BaseURL is.
type OpenAI struct {
	// APIKey is sent as the bearer token; it may be empty with a BaseURL
	// (-openai-api-key, OPENAI_API_KEY).
	APIKey Secret
	// BaseURL is the API root of a compatible server, like
	// http://localhost:11434/v1; empty means https://api.openai.com/v1
	// (-openai-base-url, OPENAI_BASE_URL).
	BaseURL string
	// Model is the model name sent with each request; there is no default
	// (-openai-model, OPENAI_MODEL).
	Model string
}

// The values of Config.Store.
const (
	StoreSQLite   = "sqlite"   // SQLite, a file in DataDir: the default
	StorePostgres = "postgres" // PostgreSQL at DatabaseURL
)

// Store says where the data is kept: StorePostgres when DatabaseURL is set,
// StoreSQLite otherwise.
func (c Config) Store() string {
	if c.DatabaseURL != "" {
		return StorePostgres
	}
	return StoreSQLite
}

// database describes where the data is kept, for String and LogValue:
// SQLite's directory, or PostgreSQL's URL without password or options.
func (c Config) database() (key, value string) {
	if c.Store() == StorePostgres {
		return "database", displayURL(string(c.DatabaseURL))
	}
	return "data", c.DataDir
}

// Provider says which model answers: ProviderAzure when Azure.Endpoint is
// set, ProviderOpenAI when OpenAI.APIKey or OpenAI.BaseURL is set, and
// ProviderDemo otherwise. (Load refuses a configuration with both.)
func (c Config) Provider() string {
	switch {
	case c.Azure.Endpoint != "":
		return ProviderAzure
	case c.OpenAI.APIKey != "" || c.OpenAI.BaseURL != "":
		return ProviderOpenAI
	default:
		return ProviderDemo
	}
}

// String describes the configuration on one line, in logfmt style, for the
// start-up log. It shows whether keys are set, never the keys; and the length
// of the system prompt, not the prompt.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("provider=" + c.Provider())
	switch c.Provider() {
	case ProviderAzure:
		b.WriteString(" " + c.Azure.String())
	case ProviderOpenAI:
		b.WriteString(" " + c.OpenAI.String())
	default:
		b.WriteString(" demo_rate=" + strconv.FormatFloat(c.DemoRate, 'g', -1, 64))
	}
	dbKey, dbValue := c.database()
	fmt.Fprintf(&b, " addr=%s store=%s %s=%s drain=%s idle_timeout=%s log_level=%s log_format=%s system_prompt_chars=%d auth=%s",
		logfmt(c.Addr), c.Store(), dbKey, logfmt(dbValue), c.Drain, c.IdleTimeout, c.LogLevel, logfmt(c.LogFormat),
		utf8.RuneCountInString(c.SystemPrompt), c.Auth.mode())
	return b.String()
}

// LogValue logs the configuration as a group, with the same content as String.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("provider", c.Provider())}
	switch c.Provider() {
	case ProviderAzure:
		attrs = append(attrs, slog.Any("azure", c.Azure))
	case ProviderOpenAI:
		attrs = append(attrs, slog.Any("openai", c.OpenAI))
	default:
		attrs = append(attrs, slog.Float64("demo_rate", c.DemoRate))
	}
	dbKey, dbValue := c.database()
	attrs = append(attrs,
		slog.String("addr", c.Addr),
		slog.String("store", c.Store()),
		slog.String(dbKey, dbValue),
		slog.String("drain", c.Drain.String()), // "10s", not nanoseconds in JSON
		slog.String("idle_timeout", c.IdleTimeout.String()),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.Int("system_prompt_chars", utf8.RuneCountInString(c.SystemPrompt)),
		slog.String("auth", c.Auth.mode()),
	)
	return slog.GroupValue(attrs...)
}

// mode is Mode, with "" read as none.
func (a Auth) mode() string {
	if a.Mode == "" {
		return AuthNone
	}
	return a.Mode
}

// UsesEntra reports whether hxchat signs in with Entra ID rather than a
// key: Auth says so, or, in a Config made without Load, no key is set.
func (a Azure) UsesEntra() bool {
	return a.Auth == AzureAuthEntra || a.Auth == "" && a.APIKey == ""
}

// authName is the sign-in of UsesEntra, for logs.
func (a Azure) authName() string {
	if a.UsesEntra() {
		return AzureAuthEntra
	}
	return AzureAuthKey
}

// String describes the Azure settings on one line; the key shows as set or unset.
func (a Azure) String() string {
	return fmt.Sprintf("endpoint=%s deployment=%s api_version=%s auth=%s api_key=%s",
		logfmt(displayURL(a.Endpoint)), logfmt(a.Deployment), logfmt(a.APIVersion), a.authName(), a.APIKey)
}

// LogValue logs the Azure settings as a group; the key shows as set or unset.
func (a Azure) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", displayURL(a.Endpoint)),
		slog.String("deployment", a.Deployment),
		slog.String("api_version", a.APIVersion),
		slog.String("auth", a.authName()),
		slog.String("api_key", a.APIKey.String()),
	)
}

// String describes the OpenAI settings on one line; the key shows as set or unset.
func (o OpenAI) String() string {
	return fmt.Sprintf("base_url=%s model=%s api_key=%s",
		logfmt(displayURL(o.BaseURL)), logfmt(o.Model), o.APIKey)
}

// LogValue logs the OpenAI settings as a group; the key shows as set or unset.
func (o OpenAI) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", displayURL(o.BaseURL)),
		slog.String("model", o.Model),
		slog.String("api_key", o.APIKey.String()),
	)
}

// Secret is a value that must never be shown, such as an API key. Printed
// with any fmt verb, logged with slog, or marshaled to JSON or text, it shows
// only "set" or "unset". Use string(s) where the value itself is needed.
type Secret string

// String returns "set" or "unset", never the secret.
func (s Secret) String() string {
	if s == "" {
		return "unset"
	}
	return "set"
}

// Format implements fmt.Formatter so that every verb, %#v and %x included,
// prints "set" or "unset" instead of the secret.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprintf(f, "config.Secret(%q)", s.String())
		return
	}
	io.WriteString(f, s.String())
}

// LogValue implements slog.LogValuer: a Secret logs as "set" or "unset".
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler (and so JSON): a Secret
// marshals as "set" or "unset".
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// displayURL returns a URL without user info, query or fragment, so that it
// can be shown; a value that does not parse shows as "(invalid)".
func displayURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// logfmt quotes a value when it is empty or has spaces, quotes or '='.
func logfmt(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n\"=\\") || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	return s
}
