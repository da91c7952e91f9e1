// Package llm implements hxchat.Provider on the official OpenAI Go SDK
// (github.com/openai/openai-go/v3): Azure OpenAI with a key or Entra ID
// (NewAzure; DefaultCredential, ReuseTokens, CheckCredential), OpenAI and
// OpenAI-compatible servers such as Ollama, vLLM, llama.cpp, LM Studio and
// LiteLLM (NewOpenAI), and an offline demo model (NewDemo).
//
// It is the only package of hxchat that imports the SDK. Providers stream
// chat completions, report usage, and turn every failure into an
// *hxchat.Error whose Message is safe to show (no keys, no upstream bodies)
// and whose Err keeps the technical cause for the log.
//
// The SDK never reads the environment here: the OPENAI_* variables it would
// use by default (key, base URL, organization, extra headers) are ignored,
// so a key meant for one server is never sent to another.
package llm

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Defaults the app uses when the configuration says nothing.
const (
	DefaultIdleTimeout = 60 * time.Second
	DefaultMaxRetries  = 2
)

// Common holds the settings every model service provider shares.
type Common struct {
	// HTTPClient sends the requests. Nil means a shared client whose
	// transport waits at most 10 minutes for response headers. Its Timeout
	// should be zero: it would cut long answers.
	HTTPClient *http.Client
	// MaxRetries is how many times a request is retried on a connection
	// error, 408, 409, 429 or 5xx, before the answer starts; never once it
	// has started. 0 means no retries (pass DefaultMaxRetries for the
	// usual 2). Each wait is as Retry-After / retry-after-ms say, at most a
	// minute, and is announced by a Delta with Retry.
	MaxRetries int
	// IdleTimeout ends a stream with an ETimeout error when no chunk
	// arrives for that long once the answer has started. 0 means
	// DefaultIdleTimeout; a negative value means no limit. There is no limit
	// on the whole answer.
	IdleTimeout time.Duration
	// Logger, if not nil, gets one debug record per HTTP attempt (method,
	// path, status, duration) and a warning for errors after a complete
	// answer. Keys are never logged.
	Logger *slog.Logger
}

// requestOptions returns the SDK options that Common stands for.
func (c Common) requestOptions() []option.RequestOption {
	client := c.HTTPClient
	if client == nil {
		client = defaultClient()
	}
	return []option.RequestOption{
		option.WithHTTPClient(client),
		option.WithMaxRetries(0), // Stream retries, and says so
	}
}

// idleTimeout returns the idle limit of a stream; 0 means none.
func (c Common) idleTimeout() time.Duration {
	switch {
	case c.IdleTimeout > 0:
		return c.IdleTimeout
	case c.IdleTimeout < 0:
		return 0
	}
	return DefaultIdleTimeout
}

// provider returns the provider of one model of a service, reached with
// opts (which set its address and key), with the options of c.
func (c Common) provider(name, model, key string, opts []option.RequestOption, check settingsToCheck) *chatProvider {
	opts = append(opts, c.logOption()...) // last: it logs the URL the others made
	return &chatProvider{
		name:    name,
		model:   model,
		svc:     openai.NewChatCompletionService(opts...),
		idle:    c.idleTimeout(),
		retries: max(c.MaxRetries, 0),
		log:     c.Logger,
		secret:  key,
		check:   check,
	}
}

// logOption logs each HTTP attempt. It must come after the options that
// rewrite the URL (Azure) so that it logs the path really requested.
func (c Common) logOption() []option.RequestOption {
	if c.Logger == nil {
		return nil
	}
	log := c.Logger
	return []option.RequestOption{option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		start := time.Now()
		res, err := next(req)
		attrs := []slog.Attr{
			slog.String("method", req.Method),
			slog.String("host", req.URL.Host),
			slog.String("path", req.URL.Path),
			slog.String("retry", req.Header.Get("X-Stainless-Retry-Count")),
			slog.Duration("duration", time.Since(start)),
		}
		if res != nil {
			attrs = append(attrs, slog.Int("status", res.StatusCode))
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		log.LogAttrs(req.Context(), slog.LevelDebug, "llm: http attempt", attrs...)
		return res, err
	})}
}

// idlePerHost is how many idle connections to one model service are kept.
// A service over HTTP/1.1 (most local servers) takes a connection per
// answer; Go keeps only 2 idle per host by default, so after a busy moment
// nearly every answer would dial (and, over TLS, shake hands) again.
const idlePerHost = 64

// defaultClient is shared by providers without an HTTPClient, so that they
// share connections. Like the SDK's own default it bounds the wait for
// response headers, not the body.
var defaultClient = sync.OnceValue(func() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return &http.Client{}
	}
	t = t.Clone()
	t.MaxIdleConns = max(t.MaxIdleConns, idlePerHost)
	t.MaxIdleConnsPerHost = idlePerHost
	t.ResponseHeaderTimeout = 10 * time.Minute
	// Each connection keeps a read and a write buffer (4 KiB each by
	// default) as long as it lives, and over HTTP/1.1 an answer streams on
	// a connection of its own. A token's event is 250–500 bytes (OpenAI,
	// Azure), and a request body larger than the write buffer goes past
	// it to the socket once the headers are out: 2 KiB and 1 KiB serve as
	// well, at 5 KiB less an answer.
	t.ReadBufferSize = 2 << 10
	t.WriteBufferSize = 1 << 10
	return &http.Client{Transport: t}
})
