package llm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/llm/llmtest"
)

// fakeCredential is an Entra ID identity for tests: it hands out the token
// it was last given, or fails.
type fakeCredential struct {
	mu        sync.Mutex
	tok       azcore.AccessToken
	err       error
	block     bool // wait for the context to end, like an unreachable token service
	calls     int
	badScopes [][]string // scopes asked for other than EntraScope alone
}

func (c *fakeCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.calls++
	if !slices.Equal(o.Scopes, []string{EntraScope}) {
		c.badScopes = append(c.badScopes, o.Scopes)
	}
	tok, err, block := c.tok, c.err, c.block
	c.mu.Unlock()
	if block {
		<-ctx.Done()
		return azcore.AccessToken{}, fmt.Errorf("fake: %w", ctx.Err())
	}
	return tok, err
}

// issue makes the credential hand out token, valid until expires.
func (c *fakeCredential) issue(token string, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tok, c.err = azcore.AccessToken{Token: token, ExpiresOn: expires}, nil
}

func (c *fakeCredential) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tok, c.err = azcore.AccessToken{}, err
}

// counts returns how many tokens were asked for, and checks the scopes.
func (c *fakeCredential) count(t *testing.T) int {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.badScopes) > 0 {
		t.Errorf("tokens asked for scopes %q, want only %s", c.badScopes, EntraScope)
	}
	return c.calls
}

// clock is a time that tests move.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)} }
func reuseOn(c *clock, cred azcore.TokenCredential) azcore.TokenCredential {
	tc := ReuseTokens(cred).(*tokenCache)
	tc.now = c.now
	return tc
}

// entraShapes are the request shapes NewAzure builds, as in
// TestAzureRequestAndAnswer.
var entraShapes = []struct {
	name     string
	tls, lan bool
	endpoint func(s *llmtest.Server) string
	path     string
}{
	{name: "http loopback", endpoint: func(s *llmtest.Server) string { return s.URL },
		path: "/openai/deployments/gpt-4o/chat/completions"},
	{name: "https", tls: true, endpoint: func(s *llmtest.Server) string { return s.URL + "/" },
		path: "/openai/deployments/gpt-4o/chat/completions"},
	{name: "http lan host", lan: true, endpoint: func(*llmtest.Server) string { return "http://aoai.internal.test:8080/openai" },
		path: "/openai/deployments/gpt-4o/chat/completions"},
	{name: "v1 URL", endpoint: func(s *llmtest.Server) string { return s.URL + "/openai/v1/" },
		path: "/openai/v1/chat/completions"},
}

// newEntraAzure returns an Azure provider of shape i on s that signs in
// with cred.
func newEntraAzure(t *testing.T, s *llmtest.Server, i int, cred azcore.TokenCredential) hxchat.Provider {
	t.Helper()
	sh := entraShapes[i]
	return newAzure(t, s, func(o *AzureOptions) {
		o.Endpoint, o.APIKey, o.Credential = sh.endpoint(s), "", cred
		switch {
		case sh.tls:
			o.HTTPClient = s.Client()
		case sh.lan:
			o.HTTPClient = lanClient(t, s)
		}
	})
}

func newShapeServer(t *testing.T, i int) *llmtest.Server {
	if entraShapes[i].tls {
		return llmtest.NewTLSServer(t)
	}
	return llmtest.NewServer(t)
}

// TestEntraEveryShape: on every request shape, each request carries the
// current token as "Authorization: Bearer" and no Api-Key, and the token is
// reused rather than asked for on every request.
func TestEntraEveryShape(t *testing.T) {
	for i, sh := range entraShapes {
		t.Run(sh.name, func(t *testing.T) {
			s := newShapeServer(t, i)
			s.RequireBearer("tok-1")
			s.Reply(llmtest.Reply{Tokens: []string{"Go", " is", " fun."}})
			c := newClock()
			fake := &fakeCredential{}
			fake.issue("tok-1", c.now().Add(time.Hour))
			p := newEntraAzure(t, s, i, reuseOn(c, fake))

			for n := range 3 {
				r := collect(t, context.Background(), p, question)
				if r.err != nil || r.text != "Go is fun." {
					t.Fatalf("answer %d: %q, %v", n+1, r.text, r.err)
				}
				c.add(10 * time.Minute)
			}
			reqs := s.Requests()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 3", len(reqs))
			}
			for _, rq := range reqs {
				if rq.Path != sh.path || rq.Header.Get("Authorization") != "Bearer tok-1" || rq.Header.Get("Api-Key") != "" {
					t.Errorf("request %s with Authorization %q Api-Key %q, want %s with Bearer tok-1 and no Api-Key",
						rq.Path, rq.Header.Get("Authorization"), rq.Header.Get("Api-Key"), sh.path)
				}
				checkBody(t, rq.Body, "gpt-4o")
			}
			if n := fake.count(t); n != 1 {
				t.Errorf("the credential was asked %d times for 3 requests within the token's hour, want once", n)
			}
		})
	}
}

// TestEntraTokenRefreshed: a token that nears its expiry mid-run is
// replaced, and the next request carries the new one; the resource accepts
// only the new one from then on.
func TestEntraTokenRefreshed(t *testing.T) {
	for i, sh := range entraShapes {
		t.Run(sh.name, func(t *testing.T) {
			s := newShapeServer(t, i)
			c := newClock()
			fake := &fakeCredential{}
			fake.issue("tok-1", c.now().Add(time.Hour))
			s.RequireBearer("tok-1")
			p := newEntraAzure(t, s, i, reuseOn(c, fake))
			ask := func(want string) {
				t.Helper()
				if r := collect(t, context.Background(), p, question); r.err != nil {
					t.Fatalf("with %s: %v", want, r.err)
				}
				reqs := s.Requests()
				if got := reqs[len(reqs)-1].Header.Get("Authorization"); got != "Bearer "+want {
					t.Errorf("Authorization %q, want Bearer %s", got, want)
				}
			}
			ask("tok-1")

			// The identity's token service now hands out tok-2; tok-1
			// still has 6 minutes, and is still used.
			fake.issue("tok-2", c.now().Add(2*time.Hour))
			c.add(54 * time.Minute)
			ask("tok-1")
			if n := fake.count(t); n != 1 {
				t.Errorf("asked %d times before the token is due, want 1", n)
			}
			// 4 minutes before its expiry it is replaced; Azure takes only
			// the new one.
			c.add(2 * time.Minute)
			s.RequireBearer("tok-2")
			ask("tok-2")
			ask("tok-2")
			if n := fake.count(t); n != 2 {
				t.Errorf("asked %d times, want 2", n)
			}
		})
	}
}

// TestEntraRefreshOn: a token whose issuer says when to refresh it
// (RefreshOn, as managed identity does) is replaced from then on.
func TestEntraRefreshOn(t *testing.T) {
	c := newClock()
	fake := &fakeCredential{}
	cred := reuseOn(c, fake)
	fake.mu.Lock()
	fake.tok = azcore.AccessToken{Token: "tok-1", ExpiresOn: c.now().Add(24 * time.Hour), RefreshOn: c.now().Add(12 * time.Hour)}
	fake.mu.Unlock()
	get := func() string {
		tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{EntraScope}})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}
	get()
	fake.issue("tok-2", c.now().Add(48*time.Hour))
	c.add(11 * time.Hour)
	if got := get(); got != "tok-1" {
		t.Errorf("before RefreshOn: %s", got)
	}
	c.add(time.Hour)
	if got := get(); got != "tok-2" {
		t.Errorf("at RefreshOn: %s, want tok-2", got)
	}

	// A refresh that fails while the old token still works keeps the old
	// one; once it has expired, the error shows.
	fake.fail(errors.New("fake: token service unreachable"))
	c.add(35*time.Hour + 57*time.Minute) // 3 minutes before tok-2 expires: it is due
	if got := get(); got != "tok-2" {
		t.Errorf("refresh failed, token still valid: %s, want tok-2", got)
	}
	c.add(3 * time.Minute)
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{EntraScope}}); err == nil {
		t.Error("an expired token was handed out after a failed refresh")
	}

	// A claims challenge (Continuous Access Evaluation) always asks.
	fake.issue("tok-3", c.now().Add(time.Hour))
	before := fake.count(t)
	cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{EntraScope}, Claims: "{}"})
	if fake.count(t) != before+1 {
		t.Error("a request with claims was answered from the cache")
	}
}

// TestEntraNoTokenNoRequest: when the credential fails or gives an empty
// token, nothing is sent, and the answer says that signing in failed.
func TestEntraNoTokenNoRequest(t *testing.T) {
	for i, sh := range entraShapes {
		for _, tt := range []struct {
			name  string
			setup func(*fakeCredential)
		}{
			{"error", func(f *fakeCredential) { f.fail(errors.New("fake: ManagedIdentityCredential: no identity")) }},
			{"empty token", func(f *fakeCredential) { f.issue("", time.Now().Add(time.Hour)) }},
		} {
			t.Run(sh.name+"/"+tt.name, func(t *testing.T) {
				s := newShapeServer(t, i)
				fake := &fakeCredential{}
				tt.setup(fake)
				p := newEntraAzure(t, s, i, ReuseTokens(fake))
				r := collect(t, context.Background(), p, question)
				if r.err == nil {
					t.Fatal("no error")
				}
				if c := code(t, r.err); c != hxchat.EUpstreamAuth {
					t.Errorf("code %s, want %s", c, hxchat.EUpstreamAuth)
				}
				if msg := hxchat.SafeMessage(r.err); !strings.Contains(msg, "Entra ID") {
					t.Errorf("message %q does not say that signing in failed", msg)
				}
				if len(r.waits) != 0 {
					t.Errorf("retried %d times", len(r.waits))
				}
				if n := len(s.Requests()); n != 0 {
					t.Errorf("%d requests went out without a token", n)
				}
				if !strings.Contains(r.err.Error(), "Cognitive Services OpenAI User") || strings.Contains(r.err.Error(), "\n") {
					t.Errorf("the log's cause should be one line that says what to check: %v", r.err)
				}
			})
		}
	}
}

// TestCheckCredential: at start-up, a credential that gives no token fails
// with one line that names the sources tried and what to set.
func TestCheckCredential(t *testing.T) {
	chain := errors.New("DefaultAzureCredential: failed to acquire a token.\nAttempted credentials:\n" +
		"\tEnvironmentCredential: missing environment variable AZURE_TENANT_ID\n" +
		"\tManagedIdentityCredential: no response from the IMDS endpoint\n" +
		"\tAzureCLICredential: Azure CLI not found on path")
	tests := []struct {
		name  string
		fake  *fakeCredential
		cause string
	}{
		{"error", &fakeCredential{err: chain}, "EnvironmentCredential: missing environment variable AZURE_TENANT_ID ManagedIdentityCredential"},
		{"empty token", &fakeCredential{}, "empty token"},
		{"hangs", &fakeCredential{block: true}, "no token within 50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := CheckCredential(context.Background(), tt.fake, 50*time.Millisecond)
			if err == nil {
				t.Fatal("no error")
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			msg := err.Error()
			for _, want := range []string{tt.cause, "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
				"managed identity", "az login", "Cognitive Services OpenAI User", "AZURE_OPENAI_API_KEY"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%q is missing from %q", want, msg)
				}
			}
			if strings.ContainsAny(msg, "\n\t") {
				t.Errorf("not one line: %q", msg)
			}
		})
	}
	fake := &fakeCredential{}
	fake.issue("tok", time.Now().Add(time.Hour))
	if err := CheckCredential(context.Background(), fake, time.Second); err != nil {
		t.Errorf("a working credential: %v", err)
	}
}

// TestDefaultCredentialFails runs azidentity's own DefaultAzureCredential
// limited to the environment (so that no managed identity endpoint or az
// is tried): with none of its variables set, start-up fails with one line
// that says what is missing.
func TestDefaultCredentialFails(t *testing.T) {
	for _, name := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_USERNAME", "AZURE_FEDERATED_TOKEN_FILE"} {
		t.Setenv(name, "")
	}
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
	cred, err := DefaultCredential()
	if err != nil {
		t.Fatal(err)
	}
	err = CheckCredential(context.Background(), ReuseTokens(cred), 5*time.Second)
	if err == nil {
		t.Fatal("no error without any identity")
	}
	if msg := err.Error(); !strings.Contains(msg, "AZURE_TENANT_ID") || !strings.Contains(msg, "az login") || strings.Contains(msg, "\n") {
		t.Errorf("error %q", msg)
	}
	t.Log(err)
}

// TestNewAzureKeyOrCredential: exactly one of a key and a credential.
func TestNewAzureKeyOrCredential(t *testing.T) {
	o := AzureOptions{Endpoint: "https://r.openai.azure.com", APIVersion: "2024-10-21", Deployment: "d"}
	if _, err := NewAzure(o); err == nil {
		t.Error("neither a key nor a credential: no error")
	}
	o.APIKey, o.Credential = testKey, &fakeCredential{}
	if _, err := NewAzure(o); err == nil {
		t.Error("both a key and a credential: no error")
	} else {
		checkNoKey(t, err)
	}
	o.APIKey = ""
	if _, err := NewAzure(o); err != nil {
		t.Errorf("a credential: %v", err)
	}
}

// TestAzureKeyWithBearerServer: the key path is unchanged: a resource that
// wants a token refuses the key, and the answer says to check the key.
func TestAzureKeyWithBearerServer(t *testing.T) {
	s := llmtest.NewServer(t)
	s.RequireBearer("tok-1")
	r := collect(t, context.Background(), newAzure(t, s, nil), question)
	if r.err == nil || code(t, r.err) != hxchat.EUpstreamAuth {
		t.Fatalf("err %v", r.err)
	}
	rq := s.Requests()[0]
	if rq.Header.Get("Api-Key") != testKey || rq.Header.Get("Authorization") != "" {
		t.Errorf("Api-Key %q Authorization %q", rq.Header.Get("Api-Key"), rq.Header.Get("Authorization"))
	}
	if !strings.Contains(r.err.Error(), "AZURE_OPENAI_API_KEY") {
		t.Errorf("the cause does not say to check the key: %v", r.err)
	}
}

// TestEntraRefused: a token that Azure refuses (the identity lacks the
// role, or the token is for another audience) is an auth error whose cause
// says which role the identity needs.
func TestEntraRefused(t *testing.T) {
	s := llmtest.NewServer(t)
	s.RequireBearer("tok-azure-wants")
	fake := &fakeCredential{}
	fake.issue("tok-other", time.Now().Add(time.Hour))
	r := collect(t, context.Background(), newEntraAzure(t, s, 0, ReuseTokens(fake)), question)
	if r.err == nil || code(t, r.err) != hxchat.EUpstreamAuth {
		t.Fatalf("err %v, want %s", r.err, hxchat.EUpstreamAuth)
	}
	if msg := r.err.Error(); !strings.Contains(msg, "Cognitive Services OpenAI User") || strings.Contains(msg, "AZURE_OPENAI_API_KEY") {
		t.Errorf("the cause should say to check the identity's role, not a key: %v", r.err)
	}
	if len(s.Requests()) != 1 || len(r.waits) != 0 {
		t.Errorf("%d requests, %d retries; want 1 and none", len(s.Requests()), len(r.waits))
	}
}
