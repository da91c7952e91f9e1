package llmtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// post sends a chat request and returns the status and the SSE data lines.
func post(t *testing.T, url, key string) (int, []string) {
	t.Helper()
	body := `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello there"}]}`
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Api-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var data []string
	for line := range strings.Lines(string(b)) {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			data = append(data, d)
		}
	}
	return res.StatusCode, data
}

func TestAzureWireFormat(t *testing.T) {
	s := NewServer(t)
	defer http.DefaultClient.CloseIdleConnections()
	azure := s.URL + "/openai/deployments/dep/chat/completions?api-version=2024-10-21"

	if st, _ := post(t, azure, ""); st != http.StatusUnauthorized {
		t.Errorf("no api-key: status %d", st)
	}
	if st, _ := post(t, s.URL+"/openai/deployments/dep/chat/completions", "k"); st != http.StatusNotFound {
		t.Errorf("no api-version: status %d", st)
	}
	st, data := post(t, azure, "k")
	if st != http.StatusOK || len(data) < 4 {
		t.Fatalf("status %d, %d events", st, len(data))
	}
	if !strings.HasPrefix(data[0], `{"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{`) {
		t.Errorf("first chunk %s", data[0])
	}
	if !strings.Contains(data[2], `"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}`) {
		t.Errorf("token chunk without content_filter_results: %s", data[2])
	}
	if data[len(data)-1] != "[DONE]" || !strings.Contains(data[len(data)-2], `"usage":{"prompt_tokens":2,"completion_tokens":4,`) {
		t.Errorf("end %q", data[len(data)-2:])
	}
	text := ""
	for _, d := range data[1 : len(data)-1] {
		var c struct {
			Choices []struct{ Delta struct{ Content string } }
		}
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("%v: %s", err, d)
		}
		if len(c.Choices) > 0 {
			text += c.Choices[0].Delta.Content
		}
	}
	if text != "You said: hello there" {
		t.Errorf("echo %q", text)
	}
}

func TestReplyQueue(t *testing.T) {
	s := NewServer(t)
	defer http.DefaultClient.CloseIdleConnections()
	s.Reply(Reply{Status: 500}, Reply{Status: 418})
	for _, want := range []int{500, 418, 418} {
		if st, _ := post(t, s.OpenAIBaseURL()+"/chat/completions", ""); st != want {
			t.Errorf("status %d, want %d", st, want)
		}
	}
	if n := len(s.Requests()); n != 3 {
		t.Errorf("%d requests recorded", n)
	}
}

func TestRequireBearer(t *testing.T) {
	s := NewServer(t)
	defer http.DefaultClient.CloseIdleConnections()
	s.RequireBearer("tok-1")
	status := func(path string, header ...string) int {
		t.Helper()
		body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
		for i := 0; i < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, path := range []string{"/openai/deployments/dep/chat/completions?api-version=2024-10-21", "/openai/v1/chat/completions"} {
		tests := []struct {
			header []string
			want   int
		}{
			{nil, http.StatusUnauthorized},
			{[]string{"Api-Key", "k"}, http.StatusUnauthorized},
			{[]string{"Authorization", "Bearer tok-0"}, http.StatusUnauthorized},
			{[]string{"Authorization", "Bearer tok-1", "Api-Key", "k"}, http.StatusUnauthorized},
			{[]string{"Authorization", "Bearer tok-1", "Authorization", "Bearer tok-1"}, http.StatusUnauthorized},
			{[]string{"Authorization", "Bearer tok-1"}, http.StatusOK},
		}
		for _, tt := range tests {
			if got := status(path, tt.header...); got != tt.want {
				t.Errorf("%s %q: status %d, want %d", path, tt.header, got, tt.want)
			}
		}
	}
	s.RequireBearer("tok-2")
	if got := status("/openai/v1/chat/completions", "Authorization", "Bearer tok-1"); got != http.StatusUnauthorized {
		t.Errorf("the old token after the new one is required: status %d", got)
	}
	if got := status("/v1/chat/completions"); got != http.StatusOK {
		t.Errorf("OpenAI shape: status %d; RequireBearer is for the Azure shapes", got)
	}
}
