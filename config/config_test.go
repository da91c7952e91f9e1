package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Keys that must never show anywhere.
const (
	azureKey  = "0123456789abcdef0123456789abcdef"
	openaiKey = "sk-proj-ZZZsecretZZZ-4242424242"
)

// env returns a getenv that looks up m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// dotenv writes content to a .env file in a temporary directory and returns
// its path; "" returns the path of a file that does not exist.
func dotenv(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	if content != "" {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// load calls Load and fails the test on an error.
func load(t *testing.T, args []string, environ map[string]string, dotenvContent string) (Config, []string) {
	t.Helper()
	var stderr bytes.Buffer
	cfg, warnings, err := Load(args, env(environ), dotenv(t, dotenvContent), &stderr)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if stderr.Len() > 0 {
		t.Errorf("Load wrote to stderr: %q", stderr.String())
	}
	return cfg, warnings
}

func TestDefaults(t *testing.T) {
	cfg, warnings := load(t, nil, nil, "")
	want := Config{
		Addr:        "127.0.0.1:8080",
		DataDir:     "data",
		Drain:       10 * time.Second,
		LeaseTTL:    15 * time.Second,
		IdleTimeout: 60 * time.Second,
		LogLevel:    slog.LevelInfo,
		LogFormat:   "text",
		DemoRate:    30,
		Azure:       Azure{APIVersion: DefaultAzureAPIVersion},
		Auth:        Auth{Mode: AuthNone},

		MaxAnswersPerSession: 3,
		MaxAnswers:           1000,
		MaxStreamsPerSession: 20,
		RequestRate:          10,
		MaxMessageBytes:      32 << 10,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %#v\nwant %#v", cfg, want)
	}
	if cfg.Provider() != ProviderDemo {
		t.Errorf("Provider() = %q, want demo", cfg.Provider())
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	// nil getenv, no .env and nil stderr are allowed too.
	if _, _, err := Load(nil, nil, "", nil); err != nil {
		t.Errorf("Load(nil, nil, \"\", nil): %v", err)
	}
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		dotenv  string
		get     func(Config) any
		want    any
		wantSrc string
	}{
		{"addr default", nil, nil, "", func(c Config) any { return c.Addr }, "127.0.0.1:8080", ""},
		{"addr .env", nil, nil, "HXCHAT_ADDR=:9000\n",
			func(c Config) any { return c.Addr }, ":9000", ""},
		{"addr env over .env", nil, map[string]string{"HXCHAT_ADDR": ":9001"}, "HXCHAT_ADDR=:9000\n",
			func(c Config) any { return c.Addr }, ":9001", ""},
		{"addr flag over env", []string{"-addr", ":9002"}, map[string]string{"HXCHAT_ADDR": ":9001"}, "HXCHAT_ADDR=:9000\n",
			func(c Config) any { return c.Addr }, ":9002", ""},
		{"metrics addr default", nil, nil, "", func(c Config) any { return c.MetricsAddr }, "", ""},
		{"metrics addr env", nil, map[string]string{"HXCHAT_METRICS_ADDR": "127.0.0.1:9090"}, "",
			func(c Config) any { return c.MetricsAddr }, "127.0.0.1:9090", ""},
		{"metrics addr flag over env", []string{"-metrics-addr", ":9091"}, map[string]string{"HXCHAT_METRICS_ADDR": "127.0.0.1:9090"}, "",
			func(c Config) any { return c.MetricsAddr }, ":9091", ""},
		{"drain .env", nil, nil, "HXCHAT_DRAIN=30s\n",
			func(c Config) any { return c.Drain }, 30 * time.Second, ""},
		{"drain env over .env", nil, map[string]string{"HXCHAT_DRAIN": "1m"}, "HXCHAT_DRAIN=30s\n",
			func(c Config) any { return c.Drain }, time.Minute, ""},
		{"drain flag over env", []string{"-drain=0"}, map[string]string{"HXCHAT_DRAIN": "1m"}, "",
			func(c Config) any { return c.Drain }, time.Duration(0), ""},
		{"lease ttl env", nil, map[string]string{"HXCHAT_LEASE_TTL": "5s"}, "",
			func(c Config) any { return c.LeaseTTL }, 5 * time.Second, ""},
		{"replica url flag", []string{"-replica-url", "http://10.0.0.5:8080/"}, nil, "",
			func(c Config) any { return c.ReplicaURL }, "http://10.0.0.5:8080", ""},
		{"system prompt .env", nil, nil, "SYSTEM_PROMPT=from dotenv\n",
			func(c Config) any { return c.SystemPrompt }, "from dotenv", ""},
		{"system prompt env", nil, map[string]string{"SYSTEM_PROMPT": " from env "}, "SYSTEM_PROMPT=from dotenv\n",
			func(c Config) any { return c.SystemPrompt }, "from env", ""},
		{"system prompt flag", []string{"-system-prompt", "from flag"}, map[string]string{"SYSTEM_PROMPT": "from env"}, "SYSTEM_PROMPT=from dotenv\n",
			func(c Config) any { return c.SystemPrompt }, "from flag", ""},
		{"log level env", nil, map[string]string{"HXCHAT_LOG_LEVEL": "DEBUG"}, "HXCHAT_LOG_LEVEL=error\n",
			func(c Config) any { return c.LogLevel }, slog.LevelDebug, ""},
		{"log level flag", []string{"-log-level=warning"}, map[string]string{"HXCHAT_LOG_LEVEL": "debug"}, "",
			func(c Config) any { return c.LogLevel }, slog.LevelWarn, ""},
		{"log format .env", nil, nil, "HXCHAT_LOG_FORMAT=JSON\n",
			func(c Config) any { return c.LogFormat }, "json", ""},
		{"demo rate env", nil, map[string]string{"HXCHAT_DEMO_RATE": "0"}, "HXCHAT_DEMO_RATE=5\n",
			func(c Config) any { return c.DemoRate }, 0.0, ""},
		{"idle timeout flag", []string{"-idle-timeout", "2m"}, nil, "HXCHAT_IDLE_TIMEOUT=5s\n",
			func(c Config) any { return c.IdleTimeout }, 2 * time.Minute, ""},
		{"data env", nil, map[string]string{"HXCHAT_DATA": "/var/lib/hxchat"}, "",
			func(c Config) any { return c.DataDir }, "/var/lib/hxchat", ""},
		{"empty env does not hide .env", nil, map[string]string{"HXCHAT_ADDR": "  "}, "HXCHAT_ADDR=:9000\n",
			func(c Config) any { return c.Addr }, ":9000", ""},
		{"empty .env does not hide the default", nil, nil, "HXCHAT_ADDR=\n",
			func(c Config) any { return c.Addr }, "127.0.0.1:8080", ""},
		{"quoted env value", nil, map[string]string{"SYSTEM_PROMPT": `"Be brief."`}, "",
			func(c Config) any { return c.SystemPrompt }, "Be brief.", ""},
		{"azure api version flag over .env", []string{"-azure-api-version", "2025-04-01-preview"}, nil,
			"AZURE_OPENAI_API_VERSION=2024-06-01\n",
			func(c Config) any { return c.Azure.APIVersion }, "2025-04-01-preview", ""},
		{"azure api version default", nil, nil, "",
			func(c Config) any { return c.Azure.APIVersion }, DefaultAzureAPIVersion, ""},
		{"empty flag empties an env key", []string{"-openai-api-key="},
			map[string]string{"OPENAI_API_KEY": openaiKey}, "",
			func(c Config) any { return c.Provider() }, ProviderDemo, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := load(t, tt.args, tt.env, tt.dotenv)
			if got := tt.get(cfg); got != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestProviders(t *testing.T) {
	noAzure := Azure{APIVersion: DefaultAzureAPIVersion}
	tests := []struct {
		name     string
		env      map[string]string
		provider string
		azure    Azure
		openai   OpenAI
	}{
		{"azure", map[string]string{
			"AZURE_OPENAI_ENDPOINT":   "https://res.openai.azure.com/",
			"AZURE_OPENAI_API_KEY":    azureKey,
			"AZURE_OPENAI_DEPLOYMENT": "gpt-4o",
		}, ProviderAzure, Azure{Endpoint: "https://res.openai.azure.com/", APIKey: azureKey, Auth: AzureAuthKey, APIVersion: DefaultAzureAPIVersion, Deployment: "gpt-4o"}, OpenAI{}},
		{"azure without key: entra", map[string]string{
			"AZURE_OPENAI_ENDPOINT":   "https://res.openai.azure.com/",
			"AZURE_OPENAI_DEPLOYMENT": "gpt-4o",
		}, ProviderAzure, Azure{Endpoint: "https://res.openai.azure.com/", Auth: AzureAuthEntra, APIVersion: DefaultAzureAPIVersion, Deployment: "gpt-4o"}, OpenAI{}},
		{"azure entra asked for", map[string]string{
			"AZURE_OPENAI_ENDPOINT":   "https://res.openai.azure.com/",
			"AZURE_OPENAI_AUTH":       "Entra",
			"AZURE_OPENAI_DEPLOYMENT": "gpt-4o",
		}, ProviderAzure, Azure{Endpoint: "https://res.openai.azure.com/", Auth: AzureAuthEntra, APIVersion: DefaultAzureAPIVersion, Deployment: "gpt-4o"}, OpenAI{}},
		{"openai", map[string]string{"OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "gpt-4o-mini"},
			ProviderOpenAI, noAzure, OpenAI{APIKey: openaiKey, Model: "gpt-4o-mini"}},
		{"ollama without key", map[string]string{"OPENAI_BASE_URL": "http://localhost:11434/v1", "OPENAI_MODEL": "llama3.2"},
			ProviderOpenAI, noAzure, OpenAI{BaseURL: "http://localhost:11434/v1", Model: "llama3.2"}},
		{"compatible with key", map[string]string{"OPENAI_BASE_URL": "https://openrouter.ai/api/v1", "OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "x/y"},
			ProviderOpenAI, noAzure, OpenAI{BaseURL: "https://openrouter.ai/api/v1", APIKey: openaiKey, Model: "x/y"}},
		{"demo", nil, ProviderDemo, noAzure, OpenAI{}},
		{"only the api version", map[string]string{"AZURE_OPENAI_API_VERSION": "2025-01-01-preview"},
			ProviderDemo, Azure{APIVersion: "2025-01-01-preview"}, OpenAI{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := load(t, nil, tt.env, "")
			if cfg.Provider() != tt.provider {
				t.Errorf("Provider() = %q, want %q", cfg.Provider(), tt.provider)
			}
			if cfg.Azure != tt.azure || cfg.OpenAI != tt.openai {
				t.Errorf("got %#v %#v, want %#v %#v", cfg.Azure, cfg.OpenAI, tt.azure, tt.openai)
			}
		})
	}
}

// seedDotenv is a .env of the seed app, as people write it: comments, quotes,
// spaces, an export, a value with an inline comment.
const seedDotenv = `# Azure OpenAI 設定
AZURE_OPENAI_ENDPOINT="https://my-resource.openai.azure.com/"
AZURE_OPENAI_API_KEY=` + azureKey + `
export AZURE_OPENAI_API_VERSION='2024-02-15-preview'
AZURE_OPENAI_DEPLOYMENT = gpt-4o-mini   # the deployment
SYSTEM_PROMPT="あなたは親切なアシスタントです。
簡潔に答えてください。"
`

func TestSeedDotenv(t *testing.T) {
	want := Config{
		Azure: Azure{
			Endpoint:   "https://my-resource.openai.azure.com/",
			APIKey:     azureKey,
			Auth:       AzureAuthKey,
			APIVersion: "2024-02-15-preview",
			Deployment: "gpt-4o-mini",
		},
		SystemPrompt: "あなたは親切なアシスタントです。\n簡潔に答えてください。",
	}
	for name, content := range map[string]string{
		"lf":   seedDotenv,
		"crlf": strings.ReplaceAll(seedDotenv, "\n", "\r\n"),
		"bom":  "\ufeff" + seedDotenv,
	} {
		t.Run(name, func(t *testing.T) {
			cfg, warnings := load(t, nil, nil, content)
			if cfg.Provider() != ProviderAzure {
				t.Errorf("Provider() = %q, want azure", cfg.Provider())
			}
			if cfg.Azure != want.Azure {
				t.Errorf("Azure = %#v, want %#v", cfg.Azure, want.Azure)
			}
			if cfg.SystemPrompt != want.SystemPrompt {
				t.Errorf("SystemPrompt = %q, want %q", cfg.SystemPrompt, want.SystemPrompt)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
		})
	}
	t.Run("does not change the process environment", func(t *testing.T) {
		t.Setenv("AZURE_OPENAI_DEPLOYMENT", "")
		load(t, nil, nil, seedDotenv)
		if v := os.Getenv("AZURE_OPENAI_DEPLOYMENT"); v != "" {
			t.Errorf("AZURE_OPENAI_DEPLOYMENT = %q in the process environment", v)
		}
	})
}

func TestValidationErrors(t *testing.T) {
	azure := func(kv ...string) map[string]string {
		m := map[string]string{
			"AZURE_OPENAI_ENDPOINT":   "https://res.openai.azure.com/",
			"AZURE_OPENAI_API_KEY":    azureKey,
			"AZURE_OPENAI_DEPLOYMENT": "gpt-4o",
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		dotenv string
		want   []string // substrings of one line of the error
	}{
		{"azure without deployment", nil, azure("AZURE_OPENAI_DEPLOYMENT", ""), "",
			[]string{"AZURE_OPENAI_DEPLOYMENT (-azure-deployment) is empty: set it to the name of your Azure OpenAI deployment"}},
		{"azure auth key without key", []string{"-azure-auth", "key"}, azure("AZURE_OPENAI_API_KEY", ""), "",
			[]string{"AZURE_OPENAI_API_KEY (-azure-api-key) is empty, but AZURE_OPENAI_AUTH (-azure-auth, set by the flag) says key", "Keys and Endpoint", "entra"}},
		{"azure auth unknown", nil, azure("AZURE_OPENAI_AUTH", "token"), "",
			[]string{`AZURE_OPENAI_AUTH (-azure-auth, set in the environment) is "token": use key (AZURE_OPENAI_API_KEY) or entra`}},
		{"azure key under another name", nil, azure("AZURE_OPENAI_API_KEY", "", "AZURE_OPENAI_KEY", azureKey), "",
			[]string{"AZURE_OPENAI_API_KEY (-azure-api-key) is empty, but AZURE_OPENAI_KEY is set: rename it", "entra"}},
		{"azure key without endpoint", nil, map[string]string{"AZURE_OPENAI_API_KEY": azureKey}, "",
			[]string{"AZURE_OPENAI_ENDPOINT (-azure-endpoint) is empty", "AZURE_OPENAI_API_KEY in the environment is set", "https://NAME.openai.azure.com/"}},
		{"azure endpoint not a url", nil, azure("AZURE_OPENAI_ENDPOINT", "res.openai.azure.com"), "",
			[]string{"AZURE_OPENAI_ENDPOINT (-azure-endpoint, set in the environment) is not an absolute http(s) URL"}},
		{"azure endpoint ftp", nil, azure("AZURE_OPENAI_ENDPOINT", "ftp://res.openai.azure.com/"), "",
			[]string{"AZURE_OPENAI_ENDPOINT (-azure-endpoint, set in the environment) is not an http(s) URL"}},
		{"azure endpoint full request url", nil,
			azure("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"), "",
			[]string{"AZURE_OPENAI_ENDPOINT (-azure-endpoint, set in the environment) is a full request URL", "https://res.openai.azure.com/", "AZURE_OPENAI_DEPLOYMENT"}},
		{"azure endpoint with query", nil, azure("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/?x=1"), "",
			[]string{"AZURE_OPENAI_ENDPOINT (-azure-endpoint, set in the environment) has a query"}},
		{"azure endpoint with user", nil, azure("AZURE_OPENAI_ENDPOINT", "https://me:pw@res.openai.azure.com/"), "",
			[]string{"AZURE_OPENAI_ENDPOINT (-azure-endpoint, set in the environment) contains a user name or password"}},
		{"azure api version emptied", []string{"-azure-api-version="}, azure(), "",
			[]string{"AZURE_OPENAI_API_VERSION (-azure-api-version, set by the flag) is empty", DefaultAzureAPIVersion}},
		{"azure and openai", nil, azure("OPENAI_API_KEY", openaiKey), "",
			[]string{"both Azure OpenAI", "AZURE_OPENAI_ENDPOINT in the environment", "OPENAI_API_KEY in the environment", "keep the settings of one"}},
		{"azure in .env and openai in env", nil, map[string]string{"OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "gpt-4o"}, seedDotenv,
			[]string{"both Azure OpenAI", "AZURE_OPENAI_ENDPOINT in ", ".env", "OPENAI_API_KEY in the environment"}},
		{"azure half and openai", nil, map[string]string{"AZURE_OPENAI_DEPLOYMENT": "x", "OPENAI_BASE_URL": "http://localhost:11434/v1"}, "",
			[]string{"both Azure OpenAI", "AZURE_OPENAI_DEPLOYMENT", "OPENAI_BASE_URL"}},
		{"openai without model", nil, map[string]string{"OPENAI_API_KEY": openaiKey}, "",
			[]string{"OPENAI_MODEL (-openai-model) is empty: set it to the model"}},
		{"openai model only", nil, map[string]string{"OPENAI_MODEL": "gpt-4o"}, "",
			[]string{"OPENAI_API_KEY (-openai-api-key) and OPENAI_BASE_URL (-openai-base-url) are empty, but OPENAI_MODEL in the environment is set"}},
		{"openai base url not a url", nil, map[string]string{"OPENAI_BASE_URL": "localhost:11434", "OPENAI_MODEL": "m"}, "",
			[]string{"OPENAI_BASE_URL (-openai-base-url, set in the environment) is not"}},
		{"openai base url relative", nil, map[string]string{"OPENAI_BASE_URL": "/v1", "OPENAI_MODEL": "m"}, "",
			[]string{"OPENAI_BASE_URL (-openai-base-url, set in the environment) is not an absolute http(s) URL"}},
		{"openai.com base url without key", nil, map[string]string{"OPENAI_BASE_URL": "https://api.openai.com/v1", "OPENAI_MODEL": "m"}, "",
			[]string{"OPENAI_API_KEY (-openai-api-key) is empty: api.openai.com needs an API key"}},
		{"addr without port", []string{"-addr", "8080"}, nil, "",
			[]string{`HXCHAT_ADDR (-addr, set by the flag) is "8080", not host:port`, ":8080"}},
		{"addr bad port", nil, map[string]string{"HXCHAT_ADDR": "localhost:http"}, "",
			[]string{`HXCHAT_ADDR (-addr, set in the environment) has the port "http"`}},
		{"addr port too big", nil, map[string]string{"HXCHAT_ADDR": ":70000"}, "",
			[]string{`HXCHAT_ADDR (-addr, set in the environment) has the port "70000"`}},
		{"addr empty", []string{"-addr="}, nil, "",
			[]string{`HXCHAT_ADDR (-addr, set by the flag) is "", not host:port`}},
		{"metrics addr without port", nil, map[string]string{"HXCHAT_METRICS_ADDR": "9090"}, "",
			[]string{`HXCHAT_METRICS_ADDR (-metrics-addr, set in the environment) is "9090", not host:port: write it like 127.0.0.1:9090`}},
		{"data empty", []string{"-data", " "}, nil, "",
			[]string{"HXCHAT_DATA (-data, set by the flag) is empty"}},
		{"drain not a duration", nil, map[string]string{"HXCHAT_DRAIN": "soon"}, "",
			[]string{`HXCHAT_DRAIN (-drain, set in the environment) is "soon", not a duration`, "10s"}},
		{"drain without unit", nil, nil, "HXCHAT_DRAIN=10\n",
			[]string{`HXCHAT_DRAIN (-drain, set in `, `) is "10", a number without a unit: add one, like 10s`}},
		{"drain negative", []string{"-drain=-1s"}, nil, "",
			[]string{`HXCHAT_DRAIN (-drain, set by the flag) is "-1s", below zero`}},
		{"drain too long", []string{"-drain=48h"}, nil, "",
			[]string{`HXCHAT_DRAIN (-drain, set by the flag) is "48h", longer than 24h`}},
		{"lease ttl too short", []string{"-lease-ttl=500ms"}, nil, "",
			[]string{`HXCHAT_LEASE_TTL (-lease-ttl, set by the flag) is "500ms", too short`, "at least 1s"}},
		{"replica url not a url", nil, map[string]string{"HXCHAT_REPLICA_URL": "10.0.0.5:8080"}, "",
			[]string{`HXCHAT_REPLICA_URL (-replica-url, set in the environment) is "10.0.0.5:8080"`, "like http://10.0.0.5:8080"}},
		{"drain empty", []string{"-drain="}, nil, "",
			[]string{`HXCHAT_DRAIN (-drain, set by the flag) is empty`}},
		{"idle timeout negative", nil, map[string]string{"HXCHAT_IDLE_TIMEOUT": "-5s"}, "",
			[]string{`HXCHAT_IDLE_TIMEOUT (-idle-timeout, set in the environment) is "-5s", below zero`}},
		{"idle timeout too short", nil, map[string]string{"HXCHAT_IDLE_TIMEOUT": "50ms"}, "",
			[]string{`HXCHAT_IDLE_TIMEOUT (-idle-timeout, set in the environment) is "50ms", too short`, "0 for no limit"}},
		{"idle timeout bad", []string{"-idle-timeout", "1 minute"}, nil, "",
			[]string{`HXCHAT_IDLE_TIMEOUT (-idle-timeout, set by the flag) is "1 minute", not a duration`}},
		{"demo rate negative", nil, map[string]string{"HXCHAT_DEMO_RATE": "-1"}, "",
			[]string{`HXCHAT_DEMO_RATE (-demo-rate, set in the environment) is "-1"`, "0 or more"}},
		{"demo rate not a number", []string{"-demo-rate", "fast"}, nil, "",
			[]string{`HXCHAT_DEMO_RATE (-demo-rate, set by the flag) is "fast"`}},
		{"demo rate NaN", []string{"-demo-rate", "NaN"}, nil, "",
			[]string{`HXCHAT_DEMO_RATE (-demo-rate, set by the flag) is "NaN"`}},
		{"demo rate Inf", []string{"-demo-rate", "+Inf"}, nil, "",
			[]string{`HXCHAT_DEMO_RATE (-demo-rate, set by the flag) is "+Inf"`}},
		{"log level", nil, map[string]string{"HXCHAT_LOG_LEVEL": "verbose"}, "",
			[]string{`HXCHAT_LOG_LEVEL (-log-level, set in the environment) is "verbose": use debug, info, warn or error`}},
		{"log format", []string{"-log-format", "xml"}, nil, "",
			[]string{`HXCHAT_LOG_FORMAT (-log-format, set by the flag) is "xml": use text or json`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, _, err := Load(tt.args, env(tt.env), dotenv(t, tt.dotenv), &stderr)
			if err == nil {
				t.Fatalf("no error; config %v", cfg)
			}
			if !reflect.DeepEqual(cfg, Config{}) {
				t.Errorf("with an error, Load returned a non-zero Config %v", cfg)
			}
			if stderr.Len() > 0 {
				t.Errorf("Load wrote to stderr: %q", stderr.String())
			}
			msg := err.Error()
			if strings.Contains(msg, azureKey) || strings.Contains(msg, openaiKey) {
				t.Errorf("error shows a key: %s", msg)
			}
			if !hasLineWith(msg, tt.want...) {
				t.Errorf("no line of the error has all of %q:\n%s", tt.want, msg)
			}
		})
	}
}

// hasLineWith reports whether one line of msg contains all of subs.
func hasLineWith(msg string, subs ...string) bool {
	for line := range strings.Lines(msg) {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestSeveralErrorsOneLineEach(t *testing.T) {
	_, _, err := Load([]string{"-drain=x", "-log-level=loud", "-azure-auth=key"},
		env(map[string]string{"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com/"}), "", nil)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, name := range []string{"HXCHAT_DRAIN", "HXCHAT_LOG_LEVEL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_DEPLOYMENT"} {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, name+" ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d lines start with %s:\n%s", n, name, err)
		}
	}
	if len(lines) != 4 {
		t.Errorf("%d lines, want 4:\n%s", len(lines), err)
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-port", "80"}, "flag provided but not defined: -port"},
		{[]string{"-azure-api-key"}, "flag needs an argument: -azure-api-key"},
		{[]string{"serve"}, `unexpected argument "serve"`},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		_, _, err := Load(tt.args, nil, "", &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "hxchat -h") {
			t.Errorf("Load(%q) error = %v, want %q and a hint to hxchat -h", tt.args, err, tt.want)
		}
		if errors.Is(err, flag.ErrHelp) {
			t.Errorf("Load(%q) returned ErrHelp", tt.args)
		}
		if stderr.Len() > 0 {
			t.Errorf("Load(%q) wrote %q to stderr", tt.args, stderr.String())
		}
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		env2 string // .env content
		want string // substring of a warning; "" wants none
	}{
		{"azure key over http", nil, map[string]string{
			"AZURE_OPENAI_ENDPOINT": "http://proxy.internal:8080/", "AZURE_OPENAI_API_KEY": azureKey, "AZURE_OPENAI_DEPLOYMENT": "d",
		}, "", "AZURE_OPENAI_API_KEY will be sent over plain http to proxy.internal:8080 (AZURE_OPENAI_ENDPOINT)"},
		{"openai key over http", nil, map[string]string{
			"OPENAI_BASE_URL": "http://10.0.0.5:8000/v1", "OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "m",
		}, "", "OPENAI_API_KEY will be sent over plain http to 10.0.0.5:8000 (OPENAI_BASE_URL)"},
		{"openai key over http to a lookalike", nil, map[string]string{
			"OPENAI_BASE_URL": "http://localhost.example.com/v1", "OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "m",
		}, "", "OPENAI_API_KEY will be sent over plain http"},
		{"https", nil, map[string]string{
			"OPENAI_BASE_URL": "https://llm.internal/v1", "OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "m",
		}, "", ""},
		{"http without a key", nil, map[string]string{"OPENAI_BASE_URL": "http://ollama:11434/v1", "OPENAI_MODEL": "m"}, "", ""},
		{"localhost", nil, map[string]string{"OPENAI_BASE_URL": "http://localhost:11434/v1", "OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "m"}, "", ""},
		{"LOCALHOST.", nil, map[string]string{"OPENAI_BASE_URL": "http://LOCALHOST.:11434/v1", "OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "m"}, "", ""},
		{"127.0.0.2", nil, map[string]string{"OPENAI_BASE_URL": "http://127.0.0.2:8000/v1", "OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "m"}, "", ""},
		{"::1", nil, map[string]string{"OPENAI_BASE_URL": "http://[::1]:8000/v1", "OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "m"}, "", ""},
		{"entra token over http", nil, map[string]string{
			"AZURE_OPENAI_ENDPOINT": "http://proxy.internal:8080/", "AZURE_OPENAI_DEPLOYMENT": "d",
		}, "", "Entra ID tokens will be sent over plain http to proxy.internal:8080 (AZURE_OPENAI_ENDPOINT)"},
		{"entra token to loopback", nil, map[string]string{
			"AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:8080/", "AZURE_OPENAI_DEPLOYMENT": "d",
		}, "", ""},
		{"entra asked for with a key", []string{"-azure-auth=entra"}, map[string]string{
			"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com/", "AZURE_OPENAI_API_KEY": azureKey, "AZURE_OPENAI_DEPLOYMENT": "d",
		}, "", "AZURE_OPENAI_API_KEY is set, but AZURE_OPENAI_AUTH is entra: the key is not used"},
		{"azure entra https", nil, map[string]string{
			"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com/", "AZURE_OPENAI_DEPLOYMENT": "d",
		}, "", ""},
		{"azure https", nil, map[string]string{
			"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com/", "AZURE_OPENAI_API_KEY": azureKey, "AZURE_OPENAI_DEPLOYMENT": "d",
		}, "", ""},
		{"key as a flag", []string{"-openai-api-key", openaiKey}, map[string]string{"OPENAI_MODEL": "m"}, "",
			"OPENAI_API_KEY was given as the flag -openai-api-key, which other users of this machine can see"},
		{"alias in env", nil, map[string]string{"AZURE_OPENAI_KEY": azureKey}, "",
			"AZURE_OPENAI_KEY is set, but hxchat reads AZURE_OPENAI_API_KEY: rename it"},
		{"alias in .env", nil, nil, "AZURE_OPENAI_DEPLOYMENT_NAME=gpt-4o\n",
			"AZURE_OPENAI_DEPLOYMENT_NAME is set, but hxchat reads AZURE_OPENAI_DEPLOYMENT"},
		{"misspelled name in .env", nil, nil, "HXCHAT_ADR=:9000\n",
			"HXCHAT_ADR in "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warnings := load(t, tt.args, tt.env, tt.env2)
			for _, w := range warnings {
				if strings.Contains(w, azureKey) || strings.Contains(w, openaiKey) {
					t.Errorf("warning shows a key: %s", w)
				}
				if strings.Contains(w, "\n") {
					t.Errorf("warning has several lines: %q", w)
				}
			}
			if tt.want == "" {
				if len(warnings) > 0 {
					t.Errorf("warnings: %q", warnings)
				}
				return
			}
			if !hasLineWith(strings.Join(warnings, "\n"), tt.want) {
				t.Errorf("warnings %q, want one with %q", warnings, tt.want)
			}
		})
	}
}

func TestWarningsComeWithErrors(t *testing.T) {
	_, warnings, err := Load(nil, env(map[string]string{
		"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com/", "AZURE_OPENAI_KEY": azureKey, "AZURE_OPENAI_DEPLOYMENT": "d",
	}), "", nil)
	if err == nil || !strings.Contains(err.Error(), "AZURE_OPENAI_API_KEY (-azure-api-key) is empty") {
		t.Errorf("error = %v", err)
	}
	if !hasLineWith(strings.Join(warnings, "\n"), "AZURE_OPENAI_KEY is set, but hxchat reads AZURE_OPENAI_API_KEY") {
		t.Errorf("warnings = %q", warnings)
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		t.Run(arg, func(t *testing.T) {
			var stderr bytes.Buffer
			_, _, err := Load([]string{"-addr", ":1", arg}, env(map[string]string{"HXCHAT_DRAIN": "bad"}), "", &stderr)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("err = %v, want flag.ErrHelp", err)
			}
			out := stderr.String()
			for _, s := range allSettings() {
				for _, want := range []string{" " + s.env, "-" + s.flag + " ", s.usage} {
					if !strings.Contains(out, want) {
						t.Errorf("help lacks %q", want)
					}
				}
				if s.def != "" && !strings.Contains(out, s.env+" (default "+s.def+")") {
					t.Errorf("help lacks the default of %s", s.env)
				}
			}
			// The seed's names come first.
			last := -1
			for _, name := range []string{"AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_API_VERSION",
				"AZURE_OPENAI_DEPLOYMENT", "SYSTEM_PROMPT", "OPENAI_API_KEY", "HXCHAT_ADDR"} {
				i := strings.Index(out, ", "+name)
				if i <= last {
					t.Errorf("%s is not listed after the names before it", name)
				}
				last = i
			}
			for _, want := range []string{"Usage: hxchat", "Example .env", "AZURE_OPENAI_ENDPOINT=https://", "OPENAI_BASE_URL=http://localhost:11434/v1"} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q", want)
				}
			}
			if t.Failed() {
				t.Logf("help:\n%s", out)
			}
		})
	}
}

func TestDotenvFile(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		if _, _, err := Load(nil, nil, filepath.Join(t.TempDir(), ".env"), nil); err != nil {
			t.Errorf("missing .env: %v", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		_, _, err := Load(nil, nil, t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), ".env file") || !strings.Contains(err.Error(), "cannot be read") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		if runtime.GOOS == "windows" || os.Geteuid() == 0 {
			t.Skip("file modes do not stop this user")
		}
		path := dotenv(t, "HXCHAT_ADDR=:1\n")
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(nil, nil, path, nil)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("error = %v", err)
		}
	})
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"no equals", "HXCHAT_ADDR=:1\nAZURE_OPENAI_API_KEY " + azureKey + "\nHXCHAT_DRAIN=1s\n",
			[]string{"line 2 has no '='", "NAME=value"}},
		{"bad name", "# comment\n\nAZURE-OPENAI-KEY=" + azureKey + "\n",
			[]string{"line 3 has \"-\" in a name"}},
		{"bad name crlf", "A=1\r\nB=2\r\nC\r\nD=" + azureKey + "\r\n",
			[]string{"line 3 has no '='"}},
		{"unterminated quote", "HXCHAT_ADDR=:1\nAZURE_OPENAI_API_KEY=\"" + azureKey + "\nX=1\n",
			[]string{"line 2 has a quoted value with no closing quote"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := dotenv(t, tt.content)
			_, _, err := Load(nil, nil, path, nil)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, azureKey) {
				t.Errorf("error shows the key: %s", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error has several lines: %q", msg)
			}
			if !strings.Contains(msg, fmt.Sprintf(".env file %q", path)) || !hasLineWith(msg, tt.want...) {
				t.Errorf("error = %s\nwant the file and %q", msg, tt.want)
			}
		})
	}
}

func TestSecretsNeverShown(t *testing.T) {
	azureCfg, _ := load(t, nil, nil, seedDotenv)
	openaiCfg, _ := load(t, nil, map[string]string{"OPENAI_API_KEY": openaiKey, "OPENAI_MODEL": "gpt-4o-mini"}, "")
	// A hand-made Config with both keys, as a test or a caller might build.
	both := azureCfg
	both.OpenAI = openaiCfg.OpenAI

	for name, cfg := range map[string]Config{"azure": azureCfg, "openai": openaiCfg, "both": both} {
		t.Run(name, func(t *testing.T) {
			var outs []string
			for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
				outs = append(outs,
					fmt.Sprintf(format, cfg), fmt.Sprintf(format, &cfg),
					fmt.Sprintf(format, cfg.Azure), fmt.Sprintf(format, cfg.OpenAI),
					fmt.Sprintf(format, cfg.Azure.APIKey), fmt.Sprintf(format, cfg.OpenAI.APIKey),
					fmt.Sprintf(format, []any{cfg.Azure.APIKey, struct{ K Secret }{cfg.OpenAI.APIKey}}))
			}
			var text, js bytes.Buffer
			slog.New(slog.NewTextHandler(&text, nil)).Info("start", "config", cfg, "azure", cfg.Azure, "key", cfg.OpenAI.APIKey)
			slog.New(slog.NewJSONHandler(&js, nil)).Info("start", "config", cfg, "azure", cfg.Azure, "key", cfg.OpenAI.APIKey)
			j, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, text.String(), js.String(), string(j))
			for _, out := range outs {
				if strings.Contains(out, azureKey) || strings.Contains(out, openaiKey) {
					t.Errorf("a key shows in %s", out)
				}
			}
			if !strings.Contains(fmt.Sprint(cfg), "api_key=set") {
				t.Errorf("String() does not say the key is set: %s", cfg)
			}
			if !strings.Contains(js.String(), `"drain":"10s"`) {
				t.Errorf("slog JSON does not show durations as text: %s", js.String())
			}
			if !strings.Contains(text.String(), "api_key=set") {
				t.Errorf("slog does not say the key is set: %s", text.String())
			}
		})
	}
	t.Run("keys in the wrong setting", func(t *testing.T) {
		_, _, err := Load([]string{"-openai-base-url", openaiKey},
			env(map[string]string{"AZURE_OPENAI_ENDPOINT": azureKey, "AZURE_OPENAI_API_KEY": "https://res.openai.azure.com/", "OPENAI_API_KEY": openaiKey}),
			"", nil)
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), azureKey) || strings.Contains(err.Error(), openaiKey) {
			t.Errorf("error shows a key: %s", err)
		}
		_, _, err = Load(nil, env(map[string]string{"HXCHAT_LOG_LEVEL": openaiKey, "OPENAI_API_KEY": openaiKey}), "", nil)
		if err == nil || strings.Contains(err.Error(), openaiKey) || !strings.Contains(err.Error(), "HXCHAT_LOG_LEVEL") {
			t.Errorf("error = %v", err)
		}
	})
}

func TestStringShowsTheConfig(t *testing.T) {
	cfg, _ := load(t, nil, nil, seedDotenv)
	got := cfg.String()
	for _, want := range []string{"provider=azure", "endpoint=https://my-resource.openai.azure.com/", "deployment=gpt-4o-mini",
		"api_version=2024-02-15-preview", "api_key=set", "addr=127.0.0.1:8080", "drain=10s", "log_level=INFO", "system_prompt_chars=28"} {
		if !strings.Contains(got, want) {
			t.Errorf("String() = %s\nlacks %s", got, want)
		}
	}
	if strings.Contains(got, "アシスタント") {
		t.Errorf("String() shows the system prompt: %s", got)
	}
	demo, _ := load(t, nil, nil, "")
	if got := demo.String(); !strings.Contains(got, "provider=demo demo_rate=30") {
		t.Errorf("demo String() = %s", got)
	}
	if got := (Azure{Endpoint: "https://u:p@h/?k=v"}).String(); strings.Contains(got, "u:p") || strings.Contains(got, "k=v") || !strings.Contains(got, "api_key=unset") {
		t.Errorf("Azure.String() = %s", got)
	}
}

func TestModels(t *testing.T) {
	azure := map[string]string{"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/", "AZURE_OPENAI_API_KEY": "k-123456789", "AZURE_OPENAI_DEPLOYMENT": "gpt-4o"}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		models string
		want   []string
	}{
		{"azure alone", azure, "", []string{"gpt-4o"}},
		{"azure and more", azure, " gpt-4o-mini, ,gpt-4o,o3-mini ", []string{"gpt-4o", "gpt-4o-mini", "o3-mini"}},
		{"openai", map[string]string{"OPENAI_API_KEY": "sk-123456789", "OPENAI_MODEL": "gpt-4o-mini"}, "gpt-4.1", []string{"gpt-4o-mini", "gpt-4.1"}},
		{"demo", nil, "", nil},
	} {
		env := map[string]string{}
		for k, v := range tc.env {
			env[k] = v
		}
		if tc.models != "" {
			env["HXCHAT_MODELS"] = tc.models
		}
		cfg, _, err := Load(nil, func(k string) string { return env[k] }, "", new(bytes.Buffer))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(cfg.Models, tc.want) {
			t.Errorf("%s: Models %q, want %q", tc.name, cfg.Models, tc.want)
		}
	}
	_, _, err := Load(nil, func(k string) string { return map[string]string{"HXCHAT_MODELS": "a,b"}[k] }, "", new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "HXCHAT_MODELS") {
		t.Errorf("models without a model configured: %v", err)
	}
}

func TestLimits(t *testing.T) {
	cfg, _, err := Load([]string{"-max-answers-per-session", "1", "-max-answers", "0"}, nil, "", new(bytes.Buffer))
	if err != nil || cfg.MaxAnswersPerSession != 1 || cfg.MaxAnswers != 0 {
		t.Errorf("flags: %d, %d, %v", cfg.MaxAnswersPerSession, cfg.MaxAnswers, err)
	}
	for _, bad := range []string{"-1", "many", "1.5"} {
		_, _, err := Load([]string{"-max-answers", bad}, nil, "", new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), "HXCHAT_MAX_ANSWERS") {
			t.Errorf("-max-answers %s: %v", bad, err)
		}
	}
	env := map[string]string{"HXCHAT_RATE": "2.5", "HXCHAT_MAX_STREAMS_PER_SESSION": "0"}
	cfg, _, err = Load(nil, func(k string) string { return env[k] }, "", new(bytes.Buffer))
	if err != nil || cfg.RequestRate != 2.5 || cfg.MaxStreamsPerSession != 0 {
		t.Errorf("env: rate %v, streams %d, %v", cfg.RequestRate, cfg.MaxStreamsPerSession, err)
	}
	cfg, _, err = Load([]string{"-max-message-kib", "64"}, nil, "", new(bytes.Buffer))
	if err != nil || cfg.MaxMessageBytes != 64<<10 {
		t.Errorf("-max-message-kib 64: %d, %v", cfg.MaxMessageBytes, err)
	}
	for _, bad := range []string{"0", "1025", "32KiB", "-1"} {
		_, _, err := Load([]string{"-max-message-kib", bad}, nil, "", new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), "HXCHAT_MAX_MESSAGE_KIB (-max-message-kib, set by the flag)") || !strings.Contains(err.Error(), "from 1 to 1024") {
			t.Errorf("-max-message-kib %s: %v", bad, err)
		}
	}
	for _, bad := range []string{"-1", "many", "NaN"} {
		_, _, err := Load([]string{"-rate", bad}, nil, "", new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), "HXCHAT_RATE (-rate, set by the flag)") || !strings.Contains(err.Error(), "requests per second") {
			t.Errorf("-rate %s: %v", bad, err)
		}
	}
}

// TestDatabaseURL: HXCHAT_DATABASE_URL (or -database-url) chooses
// PostgreSQL; DATABASE_URL does too when it is a postgres:// URL and
// HXCHAT_DATABASE_URL is not set; nothing set keeps SQLite. The password
// never shows.
func TestDatabaseURL(t *testing.T) {
	const (
		pw    = "pg-s3cret-pass"
		ours  = "postgres://hx:" + pw + "@db.internal:5432/hxchat?sslmode=require"
		other = "postgresql://app:" + pw + "@other:5432/app"
	)
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		dotenv  string
		want    string
		warning string
	}{
		{name: "default", want: ""},
		{name: "env", env: map[string]string{"HXCHAT_DATABASE_URL": ours}, want: ours},
		{name: "flag over env", args: []string{"-database-url", other}, env: map[string]string{"HXCHAT_DATABASE_URL": ours}, want: other,
			warning: "HXCHAT_DATABASE_URL was given as the flag -database-url, which other users of this machine can see"},
		{name: "DATABASE_URL", env: map[string]string{"DATABASE_URL": other}, want: other},
		{name: "DATABASE_URL in .env", dotenv: "DATABASE_URL=" + other + "\n", want: other},
		{name: "ours over DATABASE_URL", env: map[string]string{"HXCHAT_DATABASE_URL": ours, "DATABASE_URL": other}, want: ours},
		{name: "empty flag keeps SQLite", args: []string{"-database-url="}, env: map[string]string{"DATABASE_URL": other}, want: ""},
		{name: "DATABASE_URL of another kind", env: map[string]string{"DATABASE_URL": "mysql://root:" + pw + "@db/app"},
			want: "", warning: "DATABASE_URL is set in the environment, but is not a postgres:// URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warnings := load(t, tt.args, tt.env, tt.dotenv)
			if string(cfg.DatabaseURL) != tt.want {
				t.Errorf("DatabaseURL = %q, want %q", string(cfg.DatabaseURL), tt.want)
			}
			wantStore := StoreSQLite
			if tt.want != "" {
				wantStore = StorePostgres
			}
			if cfg.Store() != wantStore {
				t.Errorf("Store() = %q, want %q", cfg.Store(), wantStore)
			}
			if tt.warning == "" && len(warnings) > 0 || tt.warning != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tt.warning)) {
				t.Errorf("warnings %q, want %q", warnings, tt.warning)
			}
			var text bytes.Buffer
			slog.New(slog.NewTextHandler(&text, nil)).Info("start", "config", cfg)
			j, _ := json.Marshal(cfg)
			for _, out := range append(warnings, cfg.String(), fmt.Sprintf("%+v", cfg), text.String(), string(j)) {
				if strings.Contains(out, pw) {
					t.Errorf("the password shows in %s", out)
				}
			}
			if wantStore == StorePostgres && !strings.Contains(cfg.String(), "store=postgres database=postgres") {
				t.Errorf("String() = %s", cfg)
			}
			if wantStore == StoreSQLite && !strings.Contains(cfg.String(), "store=sqlite data=data") {
				t.Errorf("String() = %s", cfg)
			}
		})
	}

	// Not a PostgreSQL URL: an error that names the setting, not the value.
	_, _, err := Load(nil, env(map[string]string{"HXCHAT_DATABASE_URL": "mysql://root:" + pw + "@db/app"}), "", nil)
	if err == nil || !strings.Contains(err.Error(), "HXCHAT_DATABASE_URL (-database-url, set in the environment) is not a PostgreSQL URL") ||
		strings.Contains(err.Error(), pw) {
		t.Errorf("error = %v", err)
	}
}
