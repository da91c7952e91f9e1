package llm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hxchat/hxchat"
	"github.com/openai/openai-go/v3/option"
)

// openAIBaseURL is the base URL of OpenAI's own API.
const openAIBaseURL = "https://api.openai.com/v1"

// OpenAIOptions configure OpenAI or an OpenAI-compatible server.
type OpenAIOptions struct {
	// APIKey is sent as "Authorization: Bearer …". Required for OpenAI;
	// may be empty for a local server that wants none (then no
	// Authorization header is sent).
	APIKey string
	// BaseURL is the API root, such as "http://localhost:11434/v1"
	// (Ollama) or "http://gpu1:8000/v1" (vLLM). Empty means OpenAI.
	BaseURL string
	Model   string // e.g. "gpt-4o-mini", "llama3.1:8b"
	Common
}

// NewOpenAI returns a provider for OpenAI or an OpenAI-compatible server.
// Requests go to {BaseURL}/chat/completions. Only the options given here are
// used: OPENAI_API_KEY, OPENAI_BASE_URL and the SDK's other environment
// defaults are not read.
func NewOpenAI(o OpenAIOptions) (hxchat.Provider, error) {
	base := strings.TrimSpace(o.BaseURL)
	if base == "" {
		base = openAIBaseURL
	}
	u, err := parseEndpoint(base)
	if err != nil {
		return nil, fmt.Errorf("llm: openai base URL: %w", err)
	}
	host := u.Host
	official := strings.EqualFold(u.Hostname(), "api.openai.com")
	switch {
	case o.Model == "":
		return nil, errors.New("llm: openai: the model is empty")
	case official && o.APIKey == "":
		return nil, errors.New("llm: openai: the API key is empty")
	}

	// The service is built directly, not with openai.NewClient, which would
	// read OPENAI_* from the environment. The key is always set explicitly.
	opts := append(o.requestOptions(),
		option.WithBaseURL(strings.TrimSuffix(u.String(), "/")+"/"),
		option.WithAPIKey(o.APIKey))

	name := host + " · " + o.Model
	if official {
		name = "OpenAI · " + o.Model
	}
	return o.provider(name, o.Model, o.APIKey, opts, settingsToCheck{
		auth:     "check OPENAI_API_KEY: a key that " + host + " accepts",
		notFound: fmt.Sprintf("check OPENAI_BASE_URL (%s, the API root, usually ending in /v1) and OPENAI_MODEL (%q)", u, o.Model),
	}), nil
}
