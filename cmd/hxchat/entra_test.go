package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/hxchat/hxchat/config"
	"github.com/hxchat/hxchat/llm/llmtest"
)

// fakeIdentity is an Entra ID identity for tests: it hands out the token it
// was last given, or fails.
type fakeIdentity struct {
	mu    sync.Mutex
	tok   azcore.AccessToken
	err   error
	calls int
}

func (f *fakeIdentity) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(o.Scopes) != 1 || o.Scopes[0] != "https://cognitiveservices.azure.com/.default" {
		return azcore.AccessToken{}, errors.New("fake: wrong scopes")
	}
	return f.tok, f.err
}

func (f *fakeIdentity) issue(token string, valid time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tok, f.err = azcore.AccessToken{Token: token, ExpiresOn: time.Now().Add(valid)}, nil
}

// entraConfig is the configuration of Azure OpenAI on up without a key.
func entraConfig(t *testing.T, up *llmtest.Server) config.Config {
	cfg := testConfig(up, t.TempDir())
	cfg.OpenAI = config.OpenAI{}
	cfg.Azure = config.Azure{Endpoint: up.URL, Auth: config.AzureAuthEntra, APIVersion: "2024-10-21", Deployment: "gpt-4o-team"}
	return cfg
}

// TestAzureEntra: with no key, the whole app signs in to Azure OpenAI with
// its Entra ID identity: every request carries the identity's current
// token and no key; a token near its expiry is replaced before the next
// answer, and a fresh one is reused.
func TestAzureEntra(t *testing.T) {
	up := llmtest.NewServer(t)
	up.Reply(llmtest.Reply{Tokens: answerTokens})
	up.RequireBearer("tok-1")
	id := &fakeIdentity{}
	id.issue("tok-1", 4*time.Minute) // inside the 5-minute refresh window: asked for again each time
	m := NewMain(entraConfig(t, up), t.Output())
	m.credential = func() (azcore.TokenCredential, error) { return id, nil }
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b := newBrowser(t, m)

	ask := func(conv, q string) string {
		t.Helper()
		conv, events := b.send(conv, q)
		var d answerDOM
		d.apply(t, b.stream(events, "", 0))
		if d.html() != rendered(answerText()) {
			t.Fatalf("%s: answer %q, final %s", q, d.html(), d.final)
		}
		return conv
	}
	calls := func() int {
		id.mu.Lock()
		defer id.mu.Unlock()
		return id.calls
	}
	conv := ask("", "hello entra")
	if n := calls(); n != 2 {
		t.Errorf("the identity was asked %d times for start-up and a token due for refresh, want 2", n)
	}

	// The identity now hands out tok-2, and Azure takes only tok-2: the
	// next answer carries it; a fresh token is not asked for again.
	id.issue("tok-2", time.Hour)
	up.RequireBearer("tok-2")
	ask(conv, "after the refresh")
	ask(conv, "with the same token")
	if n := calls(); n != 3 {
		t.Errorf("the identity was asked %d times, want 3 (tok-2 reused)", n)
	}

	reqs := up.Requests()
	want := []string{"tok-1", "tok-2", "tok-2"}
	if len(reqs) != len(want) {
		t.Fatalf("%d requests, want %d", len(reqs), len(want))
	}
	for i, rq := range reqs {
		if rq.Path != "/openai/deployments/gpt-4o-team/chat/completions" || rq.Header.Get("Authorization") != "Bearer "+want[i] ||
			rq.Header.Get("Api-Key") != "" {
			t.Errorf("request %d: %s Authorization %q Api-Key %q, want Bearer %s and no key",
				i+1, rq.Path, rq.Header.Get("Authorization"), rq.Header.Get("Api-Key"), want[i])
		}
	}
}

// TestAzureEntraStartFails: an identity that gives no token stops start-up
// with one line that says what was tried and what to set; nothing is sent
// to Azure OpenAI.
func TestAzureEntraStartFails(t *testing.T) {
	up := llmtest.NewServer(t)
	m := NewMain(entraConfig(t, up), t.Output())
	m.credential = func() (azcore.TokenCredential, error) {
		return &fakeIdentity{err: errors.New("fake: ManagedIdentityCredential: no managed identity endpoint\n\tAzureCLICredential: az not found")}, nil
	}
	err := m.Run(context.Background())
	m.Close()
	if err == nil {
		t.Fatal("started without a token")
	}
	for _, want := range []string{"AzureCLICredential: az not found", "managed identity", "AZURE_CLIENT_SECRET", "az login", "Cognitive Services OpenAI User"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q is missing from %q", want, err)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("not one line: %q", err)
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

// TestAzureEntraProcess runs the command itself with Azure OpenAI and no
// key, and azidentity's DefaultAzureCredential limited to the environment
// (AZURE_TOKEN_CREDENTIALS), which names no identity: hxchat exits 1 with
// one error line that says what to set.
func TestAzureEntraProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-addr", "127.0.0.1:0", "-data", t.TempDir())
	cmd.Dir = t.TempDir() // no .env there
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AZURE_") && !strings.HasPrefix(kv, "OPENAI_") && !strings.HasPrefix(kv, "HXCHAT_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HXCHAT_TEST_MAIN=1", "AZURE_TOKEN_CREDENTIALS=EnvironmentCredential",
		"AZURE_OPENAI_ENDPOINT=https://res.openai.azure.com/", "AZURE_OPENAI_DEPLOYMENT=gpt-4o")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; output:\n%s", err, out)
	}
	var errLines []string
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "level=ERROR") {
			errLines = append(errLines, line)
		}
	}
	if len(errLines) != 1 {
		t.Fatalf("%d error lines, want 1:\n%s", len(errLines), out)
	}
	for _, want := range []string{"missing environment variable AZURE_TENANT_ID", "AZURE_CLIENT_ID", "managed identity", "az login", "Cognitive Services OpenAI User"} {
		if !strings.Contains(errLines[0], want) {
			t.Errorf("%q is missing from %q", want, errLines[0])
		}
	}
	t.Log(strings.TrimSpace(errLines[0]))
}
