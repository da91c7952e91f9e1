package llmtest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Reply scripts the server's answer to one request. The zero Reply streams
// an empty answer that ends with finish_reason "stop".
//
// A streamed reply is: the Azure prompt-annotation chunk (Azure shapes
// only), a role chunk, one chunk per token, a finish chunk, a usage chunk
// when the request asked for one (stream_options.include_usage), and
// "data: [DONE]". The usage chunk reports prompt_tokens as the number of
// whitespace-separated words in all messages and completion_tokens as
// len(Tokens). The fields below change that script.
type Reply struct {
	Tokens       []string      // the answer's text pieces, one chunk each
	Delay        time.Duration // wait before each token
	FinishReason string        // of the finish chunk; "" means "stop"
	NoFinish     bool          // send no finish chunk (the answer looks cut off)
	NoUsage      bool          // send no usage chunk even when asked for
	NoDone       bool          // end the body without "data: [DONE]"

	// Status, when 400 or more, answers with that HTTP status and ErrorBody
	// instead of a stream. An empty ErrorBody gets a realistic body in the
	// request's shape (OpenAI or Azure); see also AzurePromptFilteredBody.
	Status    int
	ErrorBody string
	// Headers are set on the response, error or stream: for example
	// {"Retry-After": "2"} or {"retry-after-ms": "20"} with a 429.
	Headers map[string]string

	// DropAfter > 0 aborts the connection (no clean end of the chunked body)
	// after that many tokens.
	DropAfter int
	// Reset resets the TCP connection (RST, as a crashed proxy or a
	// firewall does) instead of answering: before the first byte, or with
	// DropAfter after that many tokens.
	Reset bool
	// Stall stops sending after the tokens, without finishing, until the
	// client goes away or the server closes.
	Stall bool
	// Malformed sends a chunk that is not valid JSON after the tokens, then
	// ends the body.
	Malformed bool
	// StallAfterDone keeps the response open after [DONE] until the client
	// goes away or the server closes.
	StallAfterDone bool

	// Gate pauses the stream: before each token from index GateAfter on, the
	// server waits to receive from Gate. Send one value per token, or close
	// Gate to let the rest through.
	Gate      <-chan struct{}
	GateAfter int
}

// AzurePromptFilteredBody is the body Azure OpenAI sends with HTTP 400 when
// its content filter blocks the prompt (code "content_filter", param
// "prompt", details under innererror), as documented by Microsoft.
const AzurePromptFilteredBody = `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"high"}}}}}`

// defaultErrorBody returns a body like the real service's for status. The
// OpenAI 401 echoes the presented key, as OpenAI echoes a masked one, so that
// tests can check that no key leaks into errors.
func defaultErrorBody(sh shape, status int, key string) string {
	if sh == shapeOpenAI {
		msg, typ, code := "The request is invalid.", "invalid_request_error", "null"
		switch {
		case status == http.StatusUnauthorized:
			msg, code = "Incorrect API key provided: "+key+". You can find your API key at https://platform.openai.com/account/api-keys.", `"invalid_api_key"`
		case status == http.StatusForbidden:
			msg, code = "Project does not have access to this model.", `"model_not_allowed"`
		case status == http.StatusNotFound:
			msg, code = "The model does not exist or you do not have access to it.", `"model_not_found"`
		case status == http.StatusTooManyRequests:
			msg, typ, code = "Rate limit reached for requests. Please try again in 1s.", "requests", `"rate_limit_exceeded"`
		case status >= 500:
			msg, typ = "The server had an error while processing your request. Sorry about that!", "server_error"
		}
		return fmt.Sprintf(`{"error":{"message":%s,"type":%q,"param":null,"code":%s}}`, quote(msg), typ, code)
	}
	code, msg := fmt.Sprint(status), "The request is invalid."
	switch {
	case status == http.StatusUnauthorized:
		msg = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."
	case status == http.StatusForbidden:
		msg = "Public access is disabled. Please configure private endpoint."
	case status == http.StatusNotFound:
		code, msg = "DeploymentNotFound", "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."
	case status == http.StatusTooManyRequests:
		msg = "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current AIServices S0 pricing tier. Please retry after 1 second."
	case status >= 500:
		code, msg = "InternalServerError", "The server had an error while processing your request. Sorry about that!"
	}
	return fmt.Sprintf(`{"error":{"code":%q,"message":%s}}`, code, quote(msg))
}

// promptTokens is the prompt_tokens the server reports: the number of
// whitespace-separated words in all messages.
func promptTokens(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += len(strings.Fields(m.Content))
	}
	return n
}
