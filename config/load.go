package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
)

// Load reads the configuration and validates it.
//
// args are the command-line arguments without the program name; getenv looks
// up the environment (os.Getenv in main; nil reads no environment); dotenvPath
// is the .env file to read ("" reads none, a missing file is fine). The
// process environment is never changed.
//
// For -h or -help, Load writes the help, which lists every setting, to stderr
// and returns flag.ErrHelp: the program should exit with status 0. Load writes
// nothing else: a bad flag is returned as an error, not printed.
//
// The error, when not nil, holds one problem per line; each names the setting
// (environment name and flag) and says what to do. Warnings are problems that
// do not stop hxchat, such as an API key that would travel over plain http;
// they are returned with an error too. Neither ever contains an API key.
func Load(args []string, getenv func(string) string, dotenvPath string, stderr io.Writer) (Config, []string, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if stderr == nil {
		stderr = io.Discard
	}
	all := allSettings()

	fset := flag.NewFlagSet("hxchat", flag.ContinueOnError)
	fset.SetOutput(io.Discard) // errors are returned, not printed twice
	fset.Usage = func() {}
	flags := make(map[string]*string, len(all))
	for _, s := range all {
		flags[s.env] = fset.String(s.flag, "", s.usage)
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeUsage(stderr, dotenvPath)
			return Config{}, nil, flag.ErrHelp
		}
		return Config{}, nil, fmt.Errorf("%v: run hxchat -h for the list of settings", err)
	}
	if fset.NArg() > 0 {
		return Config{}, nil, fmt.Errorf("unexpected argument %q: hxchat takes only flags; run hxchat -h for the list", fset.Arg(0))
	}
	given := make(map[string]bool)
	fset.Visit(func(f *flag.Flag) { given[f.Name] = true })

	var dotenv map[string]string
	if dotenvPath != "" {
		var err error
		if dotenv, err = readDotenv(dotenvPath); err != nil {
			return Config{}, nil, err
		}
	}

	l := &loader{
		settings: make(map[string]setting, len(all)),
		vals:     make(map[string]value, len(all)),
		dotenv:   dotenvPath,
	}
	for _, s := range all {
		l.settings[s.env] = s
		v := value{s: s.def, src: srcDefault}
		fromDotenv := strings.TrimSpace(dotenv[s.env])
		fromEnv := unquote(strings.TrimSpace(getenv(s.env)))
		fromFlag := strings.TrimSpace(*flags[s.env])
		if fromDotenv != "" {
			v = value{s: fromDotenv, src: srcDotenv}
		}
		if fromEnv != "" {
			v = value{s: fromEnv, src: srcEnv}
		}
		if given[s.flag] {
			v = value{s: fromFlag, src: srcFlag}
		}
		l.vals[s.env] = v
		if s.secret {
			l.secrets = append(l.secrets, fromDotenv, fromEnv, fromFlag)
		}
	}

	// A key under the name of other samples means a key, not Entra ID.
	l.keyAlias = strings.TrimSpace(getenv(aliasAzureKey)) != "" || strings.TrimSpace(dotenv[aliasAzureKey]) != ""
	l.databaseAlias(getenv, dotenv)
	cfg := l.config()
	l.warnAliases(getenv, dotenv)
	l.warnUnknown(dotenv)
	l.warnKeyFlags()

	warnings := l.scrubbed(l.warns)
	if len(l.errs) > 0 {
		return Config{}, warnings, errors.New(strings.Join(l.scrubbed(l.errs), "\n"))
	}
	return cfg, warnings, nil
}

// source says where a value came from.
type source int

const (
	srcDefault source = iota
	srcDotenv
	srcEnv
	srcFlag
)

// value is the value of a setting after precedence, and its source.
type value struct {
	s   string
	src source
}

// loader resolves and validates the settings of one call of Load.
type loader struct {
	settings map[string]setting // by environment name
	dbAlias  bool               // the database URL came from DATABASE_URL
	vals     map[string]value   // by environment name
	dotenv   string             // the .env path, for messages
	secrets  []string           // every key seen, to keep them out of messages
	keyAlias bool               // AZURE_OPENAI_KEY is set
	errs     []string
	warns    []string
}

func (l *loader) get(env string) string { return l.vals[env].s }

// label names a setting for a message: its environment name, its flag, and
// where its value came from unless it is the default.
func (l *loader) label(env string) string {
	s, v := l.settings[env], l.vals[env]
	switch v.src {
	case srcFlag:
		return fmt.Sprintf("%s (-%s, set by the flag)", env, s.flag)
	case srcEnv:
		return fmt.Sprintf("%s (-%s, set in the environment)", env, s.flag)
	case srcDotenv:
		return fmt.Sprintf("%s (-%s, set in %s)", env, s.flag, l.dotenv)
	}
	return fmt.Sprintf("%s (-%s)", env, s.flag)
}

// errorf records a problem with the setting env; the message follows its label.
func (l *loader) errorf(env, format string, a ...any) {
	l.errs = append(l.errs, l.label(env)+" "+fmt.Sprintf(format, a...))
}

func (l *loader) warnf(format string, a ...any) {
	l.warns = append(l.warns, fmt.Sprintf(format, a...))
}

// scrubbed returns msgs with every key Load has seen replaced, in case a key
// was put into the wrong setting. Values shorter than 8 bytes are no real
// keys (Ollama users set "ollama") and are left alone.
func (l *loader) scrubbed(msgs []string) []string {
	out := slices.Clone(msgs)
	for _, k := range l.secrets {
		if len(k) < 8 {
			continue
		}
		for i := range out {
			out[i] = strings.ReplaceAll(out[i], k, "[redacted]")
		}
	}
	return out
}

// config builds the Config from the resolved values, recording every problem.
func (l *loader) config() Config {
	cfg := Config{
		Addr:                 l.addr(envAddr),
		MetricsAddr:          l.metricsAddr(envMetricsAddr),
		DataDir:              l.get(envData),
		DatabaseURL:          Secret(l.databaseURL()),
		Drain:                l.duration(envDrain),
		LeaseTTL:             l.duration(envLeaseTTL),
		ReplicaURL:           l.get(envReplicaURL),
		IdleTimeout:          l.duration(envIdleTimeout),
		LogLevel:             l.logLevel(envLogLevel),
		LogFormat:            l.oneOf(envLogFormat, "text", "json"),
		SystemPrompt:         l.get(envSystemPrompt),
		DemoRate:             l.perSecond(envDemoRate, "tokens", "as fast as possible"),
		RequestRate:          l.perSecond(envRate, "requests", "no limit"),
		MaxStreamsPerSession: l.count(envMaxStreams),
		MaxMessageBytes:      l.kib(envMaxMessage, 1, 1024),
		MaxAnswersPerSession: l.count(envMaxPerSession),
		MaxAnswers:           l.count(envMaxAnswers),
		TrustProxy:           l.oneOf(envTrustProxy, "true", "false") == "true",
		Azure: Azure{
			Endpoint:   l.get(envAzureEndpoint),
			APIKey:     Secret(l.get(envAzureAPIKey)),
			APIVersion: l.get(envAzureAPIVersion),
			Deployment: l.get(envAzureDeployment),
		},
		OpenAI: OpenAI{
			APIKey:  Secret(l.get(envOpenAIAPIKey)),
			BaseURL: l.get(envOpenAIBaseURL),
			Model:   l.get(envOpenAIModel),
		},
	}
	if cfg.DataDir == "" {
		l.errorf(envData, "is empty: set it to the directory for the database, like data")
	}
	if d, err := time.ParseDuration(l.get(envLeaseTTL)); err == nil && d >= 0 && d < time.Second {
		l.errorf(envLeaseTTL, "is %q, too short for a replica to renew its leases: use at least 1s, like 15s", l.get(envLeaseTTL))
	}
	if u := cfg.ReplicaURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Path != "" && p.Path != "/" {
			l.errorf(envReplicaURL, "is %q: write where the other replicas reach this one, like http://10.0.0.5:8080", u)
		} else {
			cfg.ReplicaURL = p.Scheme + "://" + p.Host
		}
	}
	if cfg.IdleTimeout > 0 && cfg.IdleTimeout < time.Second {
		l.errorf(envIdleTimeout, "is %q, too short for a model to start answering: use at least 1s, or 0 for no limit", l.get(envIdleTimeout))
	}
	l.provider(&cfg)
	cfg.Models = l.models(cfg)
	cfg.Auth = l.auth()
	return cfg
}

// databaseAlias takes DATABASE_URL, which hosting platforms set, as the
// database URL when HXCHAT_DATABASE_URL is not set (a flag given empty
// counts as set: it chooses SQLite), and only when it is a PostgreSQL URL:
// another program's database (mysql://, sqlite:) is no reason to move
// hxchat's data, so such a value is ignored with a warning.
func (l *loader) databaseAlias(getenv func(string) string, dotenv map[string]string) {
	if v := l.vals[envDatabaseURL]; v.s != "" || v.src == srcFlag {
		return
	}
	val, src, where := unquote(strings.TrimSpace(getenv(envDatabaseAlias))), srcEnv, "in the environment"
	if val == "" {
		val, src, where = strings.TrimSpace(dotenv[envDatabaseAlias]), srcDotenv, "in "+l.dotenv
	}
	if val == "" {
		return
	}
	l.secrets = append(l.secrets, val)
	if !isPostgresURL(val) {
		l.warnf("%s is set %s, but is not a postgres:// URL: hxchat ignores it and keeps its data in SQLite (-data); set %s to use PostgreSQL",
			envDatabaseAlias, where, envDatabaseURL)
		return
	}
	l.vals[envDatabaseURL] = value{s: val, src: src}
	l.dbAlias = true
}

// isPostgresURL reports whether s is a URL of the postgres or postgresql
// scheme.
func isPostgresURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "postgres" || scheme == "postgresql"
}

// databaseURL checks the database URL: empty (SQLite) or a PostgreSQL URL.
// The value is never repeated in a message: it may hold a password.
func (l *loader) databaseURL() string {
	v := l.get(envDatabaseURL)
	if v == "" || isPostgresURL(v) {
		return v
	}
	label := l.label(envDatabaseURL)
	if l.dbAlias {
		label = envDatabaseAlias
	}
	l.errs = append(l.errs, label+" is not a PostgreSQL URL: write it like postgres://user:password@host:5432/hxchat, or leave it empty to keep the data in SQLite (-data)")
	return ""
}

// auth checks the sign-in settings: what the chosen mode needs, and no
// setting of another mode.
func (l *loader) auth() Auth {
	a := Auth{Mode: l.oneOf(envAuth, AuthNone, AuthProxy, AuthOIDC)}
	proxyOnly := []string{envTrustedProxies, envSignOutURL, envProxyAdminGroup}
	oidcOnly := []string{envOIDCIssuer, envOIDCClientID, envOIDCSecret, envOIDCRedirect, envOIDCDomains, envOIDCGroups, envOIDCAdminGroup, envOIDCScopes, envOIDCGraphURL}
	for _, env := range slices.Concat(proxyOnly, oidcOnly) {
		mode := AuthProxy
		if slices.Contains(oidcOnly, env) {
			mode = AuthOIDC
		}
		if l.vals[env].src != srcDefault && l.get(env) != "" && a.Mode != mode && a.Mode != "" {
			l.errorf(env, "is set, but %s is %q: it is used only with %s=%s; set that, or remove it", l.label(envAuth), a.Mode, envAuth, mode)
		}
	}
	switch a.Mode {
	case AuthProxy:
		a.TrustedProxies = l.prefixes(envTrustedProxies)
		if l.get(envTrustedProxies) == "" {
			l.errorf(envTrustedProxies, "is empty, but %s is proxy: set it to the address of your reverse proxy (like 10.0.0.5, or a CIDR like 10.0.0.0/24); sign-in headers from any other address are refused", l.label(envAuth))
		}
		a.SignOutURL = l.get(envSignOutURL)
		a.ProxyAdminGroup = l.get(envProxyAdminGroup)
		if u := a.SignOutURL; u != "" && !strings.HasPrefix(u, "/") {
			l.checkURL(envSignOutURL, "https://chat.example.com/oauth2/sign_out")
		}
	case AuthOIDC:
		o := OIDC{
			Issuer:         strings.TrimRight(l.get(envOIDCIssuer), "/"),
			ClientID:       l.get(envOIDCClientID),
			ClientSecret:   Secret(l.get(envOIDCSecret)),
			RedirectURL:    l.get(envOIDCRedirect),
			AllowedDomains: l.list(envOIDCDomains, true),
			AllowedGroups:  l.list(envOIDCGroups, false),
			AdminGroup:     l.get(envOIDCAdminGroup),
		}
		for _, f := range strings.FieldsFunc(l.get(envOIDCScopes), func(r rune) bool { return r == ',' || r == ' ' }) {
			o.Scopes = append(o.Scopes, f)
		}
		if l.checkURL(envOIDCGraphURL, DefaultGraphURL) != nil {
			o.GraphURL = strings.TrimRight(l.get(envOIDCGraphURL), "/")
		}
		if o.Issuer == "" {
			l.errorf(envOIDCIssuer, "is empty, but %s is oidc: set it to your provider's issuer URL, like https://login.microsoftonline.com/TENANT_ID/v2.0", l.label(envAuth))
		} else if l.checkURL(envOIDCIssuer, "https://login.microsoftonline.com/TENANT_ID/v2.0") != nil {
			if i := strings.Index(o.Issuer, "login.microsoftonline.com/"); i >= 0 {
				switch tenant, _, _ := strings.Cut(o.Issuer[i+len("login.microsoftonline.com/"):], "/"); strings.ToLower(tenant) {
				case "common", "organizations", "consumers":
					l.errorf(envOIDCIssuer, "uses the multi-tenant endpoint /%s, whose ID tokens name the user's own tenant as issuer, so they can never be verified: use your tenant's issuer, https://login.microsoftonline.com/TENANT_ID/v2.0 (Entra admin center: Overview, Tenant ID)", tenant)
				}
			}
		}
		if o.ClientID == "" {
			l.errorf(envOIDCClientID, "is empty, but %s is oidc: set it to hxchat's client (application) id at your provider", l.label(envAuth))
		}
		if o.RedirectURL == "" {
			l.errorf(envOIDCRedirect, "is empty, but %s is oidc: set it to hxchat's public address followed by /auth/callback, like https://chat.example.com/auth/callback, and register it at your provider", l.label(envAuth))
		} else if u := l.checkURL(envOIDCRedirect, "https://chat.example.com/auth/callback"); u != nil && u.Path != "/auth/callback" {
			l.errorf(envOIDCRedirect, "has the path %q: hxchat receives the sign-in at /auth/callback; set it to %s://%s/auth/callback", u.Path, u.Scheme, u.Host)
		}
		a.OIDC = o
	}
	return a
}

// prefixes reads a comma-separated list of CIDRs or single addresses.
func (l *loader) prefixes(env string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range l.list(env, false) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				l.errorf(env, "has %q, which is neither an address nor a CIDR: write them like 10.0.0.5 or 10.0.0.0/24, comma-separated", f)
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// list reads a comma-separated list, without empty items; lower case when
// lower is set.
func (l *loader) list(env string, lower bool) []string {
	var out []string
	for _, f := range strings.Split(l.get(env), ",") {
		if f = strings.TrimSpace(f); f != "" {
			if lower {
				f = strings.ToLower(f)
			}
			out = append(out, f)
		}
	}
	return out
}

// models lists the configured model first, then the extra ones.
func (l *loader) models(cfg Config) []string {
	var extra []string
	for _, m := range strings.Split(l.get(envModels), ",") {
		if m = strings.TrimSpace(m); m != "" {
			extra = append(extra, m)
		}
	}
	first := cfg.Azure.Deployment
	if cfg.Provider() == ProviderOpenAI {
		first = cfg.OpenAI.Model
	}
	if cfg.Provider() == ProviderDemo {
		if len(extra) > 0 {
			l.errorf(envModels, "is set, but no model is configured: set AZURE_OPENAI_* or OPENAI_* first, or remove it")
		}
		return nil
	}
	list := []string{first}
	for _, m := range extra {
		if !slices.Contains(list, m) {
			list = append(list, m)
		}
	}
	return list
}

// provider checks the model settings: at most one provider, and everything
// the chosen one needs.
func (l *loader) provider(cfg *Config) {
	azure := l.setNames(envAzureEndpoint, envAzureAPIKey, envAzureDeployment)
	openai := l.setNames(envOpenAIAPIKey, envOpenAIBaseURL, envOpenAIModel)
	switch {
	case len(azure) > 0 && len(openai) > 0:
		l.errs = append(l.errs, fmt.Sprintf(
			"both Azure OpenAI (%s) and OpenAI (%s) are configured: keep the settings of one and remove the others (or empty them with flags, like -%s=)",
			strings.Join(azure, ", "), strings.Join(openai, ", "), l.settings[envOpenAIAPIKey].flag))

	case len(azure) > 0:
		a := cfg.Azure
		if a.Endpoint == "" {
			l.errorf(envAzureEndpoint, "is empty, but %s is set: set it to the endpoint of your Azure OpenAI resource, like https://NAME.openai.azure.com/", azure[0])
		} else {
			l.checkURL(envAzureEndpoint, "https://NAME.openai.azure.com/")
		}
		cfg.Azure.Auth = l.azureAuth(a.APIKey)
		if a.Deployment == "" {
			l.errorf(envAzureDeployment, "is empty: set it to the name of your Azure OpenAI deployment")
		}
		if a.APIVersion == "" {
			l.errorf(envAzureAPIVersion, "is empty: set it to an Azure OpenAI API version, like %s", DefaultAzureAPIVersion)
		}
		if cfg.Azure.Auth == AzureAuthEntra {
			l.warnPlainHTTPToken()
		} else {
			l.warnPlainHTTP(envAzureEndpoint, envAzureAPIKey)
		}

	case len(openai) > 0:
		o := cfg.OpenAI
		switch {
		case o.APIKey == "" && o.BaseURL == "":
			l.errs = append(l.errs, fmt.Sprintf(
				"%s and %s are empty, but %s is set: set %s to use api.openai.com, or %s to use a compatible server",
				l.label(envOpenAIAPIKey), l.label(envOpenAIBaseURL), openai[0], envOpenAIAPIKey, envOpenAIBaseURL))
		case o.BaseURL != "":
			if u := l.checkURL(envOpenAIBaseURL, "http://localhost:11434/v1"); u != nil &&
				strings.EqualFold(u.Hostname(), "api.openai.com") && o.APIKey == "" {
				l.errorf(envOpenAIAPIKey, "is empty: api.openai.com needs an API key; set it to one of yours")
			}
		}
		if o.Model == "" {
			l.errorf(envOpenAIModel, "is empty: set it to the model to chat with, like gpt-4o-mini for OpenAI or llama3.2 for Ollama")
		}
		l.warnPlainHTTP(envOpenAIBaseURL, envOpenAIAPIKey)
	}
}

// aliasAzureKey is where other samples put the key of AZURE_OPENAI_API_KEY.
const aliasAzureKey = "AZURE_OPENAI_KEY"

// azureAuth resolves how hxchat signs in to Azure OpenAI: as
// AZURE_OPENAI_AUTH says, or else with the key when one is set, and with
// Entra ID when none is.
func (l *loader) azureAuth(key Secret) string {
	switch auth := strings.ToLower(l.get(envAzureAuth)); {
	case auth == "" && key != "", auth == AzureAuthKey:
		if key == "" {
			l.errorf(envAzureAPIKey, "is empty, but %s says key: set it to a key of your Azure OpenAI resource (Azure portal: the resource, Keys and Endpoint), or set %s to entra to sign in with Entra ID",
				l.label(envAzureAuth), envAzureAuth)
		}
		return AzureAuthKey
	case auth == "" && l.keyAlias:
		l.errorf(envAzureAPIKey, "is empty, but %s is set: rename it to %s, or set %s to entra to sign in with Entra ID",
			aliasAzureKey, envAzureAPIKey, envAzureAuth)
		return AzureAuthKey
	case auth == "", auth == AzureAuthEntra:
		if key != "" {
			l.warnf("%s is set, but %s is entra: the key is not used; hxchat signs in with Entra ID", envAzureAPIKey, envAzureAuth)
		}
		return AzureAuthEntra
	default:
		l.errorf(envAzureAuth, "is %q: use key (AZURE_OPENAI_API_KEY) or entra (Entra ID), or leave it unset", l.get(envAzureAuth))
		return ""
	}
}

// warnPlainHTTPToken warns when Entra ID tokens would be sent over plain
// http to an Azure endpoint on a host that is not loopback.
func (l *loader) warnPlainHTTPToken() {
	u, err := url.Parse(l.get(envAzureEndpoint))
	if err != nil || !strings.EqualFold(u.Scheme, "http") || u.Hostname() == "" || isLoopback(u.Hostname()) {
		return
	}
	l.warnf("Entra ID tokens will be sent over plain http to %s (%s): anyone on the network between can read and use them for an hour; use https://",
		u.Host, envAzureEndpoint)
}

// setNames returns the settings among envs that have a value, each with
// where the value came from.
func (l *loader) setNames(envs ...string) []string {
	var names []string
	for _, env := range envs {
		v := l.vals[env]
		if v.s == "" {
			continue
		}
		switch v.src {
		case srcFlag:
			names = append(names, env+" by -"+l.settings[env].flag)
		case srcEnv:
			names = append(names, env+" in the environment")
		case srcDotenv:
			names = append(names, env+" in "+l.dotenv)
		default:
			names = append(names, env)
		}
	}
	return names
}

// checkURL checks that the setting env is an absolute http(s) URL with no
// user info, query or fragment, and returns it parsed, or nil after
// recording the problem. The value itself is not repeated in messages: it
// may be a key put into the wrong setting.
func (l *loader) checkURL(env, example string) *url.URL {
	u, err := url.Parse(l.get(env))
	if err != nil || u.Scheme == "" || u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		l.errorf(env, "is not an absolute http(s) URL: set it to one like %s", example)
		return nil
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		l.errorf(env, "is not an http(s) URL: set it to one like %s", example)
		return nil
	}
	if u.User != nil {
		l.errorf(env, "contains a user name or password: remove it (the key belongs in its own setting)")
		return nil
	}
	if env == envAzureEndpoint && strings.Contains(strings.ToLower(u.Path), "/openai/deployments") {
		l.errorf(env, "is a full request URL: set it to the resource endpoint only, %s://%s/, and the deployment name in %s",
			u.Scheme, u.Host, envAzureDeployment)
		return nil
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		l.errorf(env, "has a query or fragment (?... or #...): remove it, like %s", example)
		return nil
	}
	return u
}

// warnPlainHTTP warns when the key of keyEnv would be sent over plain http to
// the URL of urlEnv on a host that is not loopback.
func (l *loader) warnPlainHTTP(urlEnv, keyEnv string) {
	if l.get(keyEnv) == "" {
		return
	}
	u, err := url.Parse(l.get(urlEnv))
	if err != nil || !strings.EqualFold(u.Scheme, "http") || u.Hostname() == "" || isLoopback(u.Hostname()) {
		return
	}
	l.warnf("%s will be sent over plain http to %s (%s): anyone on the network between can read it; use https://",
		keyEnv, u.Host, urlEnv)
}

// isLoopback reports whether host names this machine: localhost, a name
// under .localhost, 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// warnAliases warns about a setting written under a name that other tools
// and samples use while hxchat's own name is unset.
func (l *loader) warnAliases(getenv func(string) string, dotenv map[string]string) {
	aliases := [...][2]string{
		{aliasAzureKey, envAzureAPIKey},
		{"AZURE_OPENAI_DEPLOYMENT_NAME", envAzureDeployment},
		{"OPENAI_API_BASE", envOpenAIBaseURL},
	}
	for _, a := range aliases {
		if l.get(a[1]) != "" {
			continue
		}
		if strings.TrimSpace(getenv(a[0])) != "" || strings.TrimSpace(dotenv[a[0]]) != "" {
			l.warnf("%s is set, but hxchat reads %s: rename it", a[0], a[1])
		}
	}
}

// warnUnknown warns about HXCHAT_ names in .env that are no setting,
// probably misspelled.
func (l *loader) warnUnknown(dotenv map[string]string) {
	var unknown []string
	for name := range dotenv {
		if _, ok := l.settings[name]; !ok && strings.HasPrefix(name, "HXCHAT_") {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		l.warnf("%s in %s is not a setting of hxchat: check the spelling (hxchat -h lists the settings)", name, l.dotenv)
	}
}

// warnKeyFlags warns about keys given as flags, which ps shows to everyone.
func (l *loader) warnKeyFlags() {
	for _, s := range allSettings() {
		if s.secret && l.vals[s.env].src == srcFlag && l.get(s.env) != "" {
			l.warnf("%s was given as the flag -%s, which other users of this machine can see in the process list: prefer the environment or %s",
				s.env, s.flag, l.dotenvName())
		}
	}
}

func (l *loader) dotenvName() string {
	if l.dotenv == "" {
		return "a .env file"
	}
	return l.dotenv
}

// addr checks a host:port address.
func (l *loader) addr(env string) string { return l.addrLike(env, "8080") }

// addrLike checks a host:port; a message's example has the port example.
func (l *loader) addrLike(env, example string) string {
	v := l.get(env)
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		l.errorf(env, "is %q, not host:port: write it like 127.0.0.1:%s, or :%s to listen on every interface", v, example, example)
		return ""
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		l.errorf(env, "has the port %q: use a number from 0 to 65535, like 127.0.0.1:%s", port, example)
		return ""
	}
	return v
}

// metricsAddr checks the metrics' own address, which may be empty.
func (l *loader) metricsAddr(env string) string {
	if l.get(env) == "" {
		return ""
	}
	return l.addrLike(env, "9090")
}

// duration parses a Go duration of 0 to 24h.
func (l *loader) duration(env string) time.Duration {
	v := l.get(env)
	d, err := time.ParseDuration(v)
	switch {
	case v == "":
		l.errorf(env, "is empty: set it to a duration like %s, or 0", l.settings[env].def)
	case err != nil:
		if _, ferr := strconv.ParseFloat(v, 64); ferr == nil {
			l.errorf(env, "is %q, a number without a unit: add one, like %ss", v, v)
		} else {
			l.errorf(env, "is %q, not a duration: write it like 10s, 1m30s or 2m", v)
		}
	case d < 0:
		l.errorf(env, "is %q, below zero: use 0 or more, like %s", v, l.settings[env].def)
	case d > 24*time.Hour:
		l.errorf(env, "is %q, longer than 24h: use a shorter duration, like %s", v, l.settings[env].def)
	default:
		return d
	}
	return 0
}

// demoRate parses tokens per second: a finite number of 0 or more.
// count reads a whole number ≥ 0.
func (l *loader) count(env string) int {
	v := l.get(env)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		l.errorf(env, "is %q: set it to a whole number, 0 or more (0: no limit)", v)
		return 0
	}
	return n
}

// kib parses a size in KiB within lo..hi and returns it in bytes.
func (l *loader) kib(env string, lo, hi int) int {
	v := l.get(env)
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.errorf(env, "is %q: set it to a number of KiB from %d to %d, like %s", v, lo, hi, l.settings[env].def)
		return 0
	}
	return n << 10
}

// perSecond parses a rate of what per second, 0 or more; zero says what 0
// means.
func (l *loader) perSecond(env, what, zero string) float64 {
	v := l.get(env)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		l.errorf(env, "is %q: set it to a number of %s per second of 0 or more, like %s (0: %s)", v, what, l.settings[env].def, zero)
		return 0
	}
	return f
}

// logLevel parses debug, info, warn (or warning) and error, in any case.
func (l *loader) logLevel(env string) slog.Level {
	switch strings.ToLower(l.get(env)) {
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	l.errorf(env, "is %q: use debug, info, warn or error", l.get(env))
	return slog.LevelInfo
}

// oneOf returns the setting in lower case if it is one of choices.
func (l *loader) oneOf(env string, choices ...string) string {
	v := strings.ToLower(l.get(env))
	if slices.Contains(choices, v) {
		return v
	}
	l.errorf(env, "is %q: use %s", l.get(env), strings.Join(choices, " or "))
	return ""
}

// unquote removes one pair of matching quotes around an environment value.
// docker run --env-file, for one, keeps the quotes of a .env line literally.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// readDotenv reads a .env file without touching the process environment. A
// missing file yields no values; an unreadable or malformed one an error that
// names the file and the line, never a value.
func readDotenv(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err
		}
		return nil, fmt.Errorf(".env file %q cannot be read (%v): fix its permissions, or remove it", path, err)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // a byte order mark, as Windows editors write
	m, err := godotenv.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, dotenvSyntaxError(path, data, err)
	}
	return m, nil
}

// dotenvSyntaxError turns a parse error of godotenv, which quotes the rest of
// the file and so maybe a key, into one that names only the file and line.
func dotenvSyntaxError(path string, data []byte, err error) error {
	const (
		badChar    = "unexpected character "
		near       = " in variable name near "
		unfinished = "unterminated quoted value "
	)
	text := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")) // as godotenv sees it
	lineAt := func(offset int) string {
		if offset < 0 || offset > len(text) {
			return ""
		}
		return fmt.Sprintf(", line %d", bytes.Count(text[:offset], []byte("\n"))+1)
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, badChar):
		char, line := "", ""
		rest := msg[len(badChar):]
		if q, qerr := strconv.QuotedPrefix(rest); qerr == nil {
			char, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		}
		if strings.HasPrefix(rest, near) {
			if q, qerr := strconv.QuotedPrefix(rest[len(near):]); qerr == nil {
				if s, uerr := strconv.Unquote(q); uerr == nil && bytes.HasSuffix(text, []byte(s)) {
					line = lineAt(len(text) - len(s))
				}
			}
		}
		if char == "\n" || char == "" {
			return fmt.Errorf(".env file %q%s has no '=': write NAME=value, or start a comment with #", path, line)
		}
		return fmt.Errorf(".env file %q%s has %q in a name: names may use only letters, digits, _ and .; write NAME=value", path, line, char)
	case strings.HasPrefix(msg, unfinished):
		return fmt.Errorf(".env file %q%s has a quoted value with no closing quote: close it", path,
			lineAt(bytes.LastIndex(text, []byte(msg[len(unfinished):]))))
	}
	return fmt.Errorf(".env file %q is malformed: write each line as NAME=value, or start a comment with #", path)
}
