package config

import (
	"fmt"
	"io"
	"strings"
)

// Environment names of the settings. The first five are the seed app's.
const (
	envAzureEndpoint   = "AZURE_OPENAI_ENDPOINT"
	envAzureAPIKey     = "AZURE_OPENAI_API_KEY"
	envAzureAPIVersion = "AZURE_OPENAI_API_VERSION"
	envAzureDeployment = "AZURE_OPENAI_DEPLOYMENT"
	envAzureAuth       = "AZURE_OPENAI_AUTH"
	envSystemPrompt    = "SYSTEM_PROMPT"
	envOpenAIAPIKey    = "OPENAI_API_KEY"
	envOpenAIBaseURL   = "OPENAI_BASE_URL"
	envOpenAIModel     = "OPENAI_MODEL"
	envModels          = "HXCHAT_MODELS"
	envMaxPerSession   = "HXCHAT_MAX_ANSWERS_PER_SESSION"
	envMaxAnswers      = "HXCHAT_MAX_ANSWERS"
	envMaxStreams      = "HXCHAT_MAX_STREAMS_PER_SESSION"
	envMaxMessage      = "HXCHAT_MAX_MESSAGE_KIB"
	envRate            = "HXCHAT_RATE"
	envTrustProxy      = "HXCHAT_TRUST_PROXY"
	envAddr            = "HXCHAT_ADDR"
	envData            = "HXCHAT_DATA"
	envDatabaseURL     = "HXCHAT_DATABASE_URL"
	envDatabaseAlias   = "DATABASE_URL" // read when HXCHAT_DATABASE_URL is not set
	envDrain           = "HXCHAT_DRAIN"
	envLeaseTTL        = "HXCHAT_LEASE_TTL"
	envReplicaURL      = "HXCHAT_REPLICA_URL"
	envMetricsAddr     = "HXCHAT_METRICS_ADDR"
	envIdleTimeout     = "HXCHAT_IDLE_TIMEOUT"
	envDemoRate        = "HXCHAT_DEMO_RATE"
	envLogLevel        = "HXCHAT_LOG_LEVEL"
	envLogFormat       = "HXCHAT_LOG_FORMAT"
	envAuth            = "HXCHAT_AUTH"
	envTrustedProxies  = "HXCHAT_TRUSTED_PROXIES"
	envSignOutURL      = "HXCHAT_SIGNOUT_URL"
	envOIDCIssuer      = "HXCHAT_OIDC_ISSUER"
	envOIDCClientID    = "HXCHAT_OIDC_CLIENT_ID"
	envOIDCSecret      = "HXCHAT_OIDC_CLIENT_SECRET"
	envOIDCRedirect    = "HXCHAT_OIDC_REDIRECT_URL"
	envOIDCDomains     = "HXCHAT_OIDC_ALLOWED_DOMAINS"
	envOIDCGroups      = "HXCHAT_OIDC_ALLOWED_GROUPS"
	envOIDCAdminGroup  = "HXCHAT_OIDC_ADMIN_GROUP"
	envOIDCScopes      = "HXCHAT_OIDC_SCOPES"
	envOIDCGraphURL    = "HXCHAT_OIDC_GRAPH_URL"
	envProxyAdminGroup = "HXCHAT_PROXY_ADMIN_GROUP"
)

// DefaultGraphURL is the root of Microsoft Graph in Azure's global cloud.
const DefaultGraphURL = "https://graph.microsoft.com"

// DefaultAzureAPIVersion is the Azure OpenAI REST API version used when
// AZURE_OPENAI_API_VERSION is not set: the latest GA version that streams
// chat completions.
const DefaultAzureAPIVersion = "2024-10-21"

// setting describes one setting for the flag set, the lookup and the help.
type setting struct {
	env    string // environment and .env name
	flag   string // flag name, without the dash
	arg    string // placeholder for the value in the help
	def    string // default, as text; "" for none
	secret bool   // a key: never shown
	usage  string // one line of meaning
}

// section is a heading of the help and the settings under it.
type section struct {
	title    string
	settings []setting
}

// sections returns every setting, in the order of the help: the seed's Azure
// names first.
func sections() []section {
	return []section{
		{"Azure OpenAI (used when AZURE_OPENAI_ENDPOINT is set)", []setting{
			{envAzureEndpoint, "azure-endpoint", "URL", "", false,
				"endpoint of your Azure OpenAI resource, like https://NAME.openai.azure.com/"},
			{envAzureAPIKey, "azure-api-key", "KEY", "", true,
				"a key of the resource (Azure portal: the resource, Keys and Endpoint); without one, hxchat signs in with Entra ID"},
			{envAzureAuth, "azure-auth", "key|entra", "", false,
				"how hxchat signs in to Azure OpenAI: key (AZURE_OPENAI_API_KEY) or entra (Entra ID: a service principal in AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, workload or managed identity, or az login; the identity needs the role Cognitive Services OpenAI User); default key when a key is set, else entra"},
			{envAzureAPIVersion, "azure-api-version", "VERSION", DefaultAzureAPIVersion, false,
				"Azure OpenAI REST API version"},
			{envAzureDeployment, "azure-deployment", "NAME", "", false,
				"name of the model deployment to chat with"},
		}},
		{"Chat", []setting{
			{envSystemPrompt, "system-prompt", "TEXT", "", false,
				"default system prompt of new conversations, sent first with every request (empty: none)"},
			{envModels, "models", "NAMES", "", false,
				"more models (or Azure deployments) users may pick per conversation, comma-separated"},
			{envMaxMessage, "max-message-kib", "N", "32", false,
				"longest message a user may send, in KiB (1 to 1024); a longer one is refused and stays in the box"},
			{envIdleTimeout, "idle-timeout", "DURATION", "60s", false,
				"end an answer when the model sends nothing for this long (0: no limit)"},
		}},
		{"OpenAI or a compatible server (used when OPENAI_API_KEY or OPENAI_BASE_URL is set)", []setting{
			{envOpenAIAPIKey, "openai-api-key", "KEY", "", true,
				"API key; may stay empty with OPENAI_BASE_URL (Ollama, llama.cpp need none)"},
			{envOpenAIBaseURL, "openai-base-url", "URL", "", false,
				"API root of a compatible server, like http://localhost:11434/v1 (empty: api.openai.com)"},
			{envOpenAIModel, "openai-model", "NAME", "", false,
				"model to chat with, like gpt-4o-mini or llama3.2 (required)"},
		}},
		{"Demo model (used when no model is configured)", []setting{
			{envDemoRate, "demo-rate", "TOKENS", "30", false,
				"tokens per second the offline demo model writes (0: as fast as possible)"},
		}},
		{"Sign-in", []setting{
			{envAuth, "auth", "none|proxy|oidc", "none", false,
				"how people sign in: none (anonymous browser sessions), proxy (a trusted reverse proxy signed them in: oauth2-proxy or Azure Easy Auth headers) or oidc (hxchat signs them in with an OpenID Connect provider)"},
			{envTrustedProxies, "trusted-proxies", "CIDRS", "", false,
				"with -auth proxy: the addresses of the proxies whose sign-in headers are believed, comma-separated CIDRs or addresses, like 10.0.0.5,10.1.0.0/16 (required)"},
			{envSignOutURL, "signout-url", "URL", "", false,
				"with -auth proxy: the proxy's sign-out URL, linked from the page, like /oauth2/sign_out or /.auth/logout"},
			{envProxyAdminGroup, "proxy-admin-group", "GROUP", "", false,
				"with -auth proxy: members of this group (X-Forwarded-Groups, or Easy Auth's groups and roles claims) are administrators"},
			{envOIDCIssuer, "oidc-issuer", "URL", "", false,
				"with -auth oidc: the provider's issuer URL, like https://login.microsoftonline.com/TENANT_ID/v2.0 (never /common)"},
			{envOIDCClientID, "oidc-client-id", "ID", "", false,
				"with -auth oidc: hxchat's client (application) id at the provider"},
			{envOIDCSecret, "oidc-client-secret", "SECRET", "", true,
				"with -auth oidc: the client secret (empty for a public client, which PKCE protects)"},
			{envOIDCRedirect, "oidc-redirect-url", "URL", "", false,
				"with -auth oidc: hxchat's public URL of /auth/callback, registered at the provider, like https://chat.example.com/auth/callback"},
			{envOIDCDomains, "oidc-allowed-domains", "DOMAINS", "", false,
				"with -auth oidc: only people whose email is in one of these domains may sign in, comma-separated (empty: any)"},
			{envOIDCGroups, "oidc-allowed-groups", "GROUPS", "", false,
				"with -auth oidc: only members of one of these groups or app roles may sign in, comma-separated (Entra ID: group object ids or app role values; empty: any)"},
			{envOIDCAdminGroup, "oidc-admin-group", "GROUP", "", false,
				"with -auth oidc: members of this group or app role are administrators"},
			{envOIDCScopes, "oidc-scopes", "SCOPES", "", false,
				"with -auth oidc: scopes to request besides openid, profile and email, comma- or space-separated (Entra ID with more than 200 groups a person: User.Read)"},
			{envOIDCGraphURL, "oidc-graph-url", "URL", DefaultGraphURL, false,
				"with -auth oidc: the root of Microsoft Graph, asked for the groups of a person in too many for Entra ID's token (national clouds: https://graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn)"},
		}},
		{"Server", []setting{
			{envAddr, "addr", "HOST:PORT", "127.0.0.1:8080", false,
				"address to listen on (:8080 listens on every interface)"},
			{envMetricsAddr, "metrics-addr", "HOST:PORT", "", false,
				"serve /metrics (Prometheus) on a listener of its own, like 127.0.0.1:9090, and not on -addr (empty: at /metrics on -addr)"},
			{envData, "data", "DIR", "data", false,
				"directory of the SQLite database"},
			{envDatabaseURL, "database-url", "URL", "", true,
				"PostgreSQL instead of SQLite, like postgres://user:password@host:5432/hxchat (DATABASE_URL too, when it is one)"},
			{envDrain, "drain", "DURATION", "10s", false,
				"on shutdown, how long running answers may finish (0: stop them at once)"},
			{envLeaseTTL, "lease-ttl", "DURATION", "15s", false,
				"with PostgreSQL: how long a replica may be silent before another takes its running answers (stored interrupted); at least 1s"},
			{envReplicaURL, "replica-url", "URL", "", false,
				"with PostgreSQL: where the other replicas reach this one, like http://10.0.0.5:8080 (default: http://, the address of -addr, or the host's first non-loopback IPv4 when -addr names none, and its port)"},
			{envMaxPerSession, "max-answers-per-session", "N", "3", false,
				"answers one browser session may have running at once (0: no limit)"},
			{envMaxAnswers, "max-answers", "N", "1000", false,
				"answers all users may have running at once (0: no limit)"},
			{envMaxStreams, "max-streams-per-session", "N", "20", false,
				"answer streams one browser session may have open at once, across its tabs (0: no limit)"},
			{envRate, "rate", "N", "10", false,
				"requests per second one browser session may make, in bursts of ten seconds' worth (0: no limit)"},
			{envTrustProxy, "trust-proxy", "BOOL", "false", false,
				"behind a reverse proxy: trust its X-Forwarded-For and X-Forwarded-Proto"},
			{envLogLevel, "log-level", "LEVEL", "info", false,
				"lowest level logged: debug, info, warn or error"},
			{envLogFormat, "log-format", "FORMAT", "text", false,
				"log format: text or json"},
		}},
	}
}

// allSettings returns every setting in help order.
func allSettings() []setting {
	var all []setting
	for _, s := range sections() {
		all = append(all, s.settings...)
	}
	return all
}

// writeUsage writes the help of hxchat -h: every setting with its flag,
// environment name, default and meaning, then an example .env.
func writeUsage(w io.Writer, dotenvPath string) {
	if dotenvPath == "" {
		dotenvPath = ".env"
	}
	var b strings.Builder
	b.WriteString(`Usage: hxchat [flags]

hxchat is a self-hosted LLM chat web app. Each setting below is a flag, an
environment variable of the same meaning, and may also be a line of a .env file
in the working directory. A flag wins over the environment, the environment
over .env, .env over the default. Empty values in the environment or .env
count as unset.
`)
	for _, sec := range sections() {
		fmt.Fprintf(&b, "\n%s:\n", sec.title)
		for _, s := range sec.settings {
			fmt.Fprintf(&b, "  -%s %s, %s", s.flag, s.arg, s.env)
			if s.def != "" {
				fmt.Fprintf(&b, " (default %s)", s.def)
			}
			fmt.Fprintf(&b, "\n        %s\n", s.usage)
		}
	}
	fmt.Fprintf(&b, `
Durations are written like 10s, 1m30s or 2m. With no model configured, hxchat
runs the offline demo model and the page says how to connect a real one.

Example %s (the seed app's file works as it is):

  AZURE_OPENAI_ENDPOINT=https://my-resource.openai.azure.com/
  AZURE_OPENAI_API_KEY=your-key
  AZURE_OPENAI_API_VERSION=%s
  AZURE_OPENAI_DEPLOYMENT=gpt-4o-mini
  SYSTEM_PROMPT="You are a helpful assistant. Answer briefly."

  # without AZURE_OPENAI_API_KEY, hxchat signs in with Entra ID (a managed
  # identity, AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or az login)
  # or OpenAI:  OPENAI_API_KEY=sk-...  and  OPENAI_MODEL=gpt-4o-mini
  # or Ollama:  OPENAI_BASE_URL=http://localhost:11434/v1  and  OPENAI_MODEL=llama3.2

Values may be quoted. In an unquoted or "double-quoted" value, $NAME is replaced
by NAME from earlier in the file (or by nothing): quote a value with $ as '...'.
`, dotenvPath, DefaultAzureAPIVersion)
	io.WriteString(w, b.String())
}
