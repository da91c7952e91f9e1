package hxchat

import (
	"strings"
	"time"
)

// Role says who wrote a message.
type Role string

// The roles of a conversation. System prompts are not stored as messages; they
// come from the configuration and are sent first with every request.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// State is where a message is in its life. User messages are always StateDone.
type State string

// The states of an assistant message.
const (
	// StateStreaming: a generation is producing the text right now.
	StateStreaming State = "streaming"
	// StateDone: the model finished the answer.
	StateDone State = "done"
	// StateError: the answer ended with an error; Message.ErrorCode says which.
	StateError State = "error"
	// StateStopped: the user stopped the answer; the partial text is kept.
	StateStopped State = "stopped"
	// StateInterrupted: the process ended (crash, kill, shutdown past the
	// drain timeout) while the answer was streaming; the text up to the last
	// checkpoint is kept.
	StateInterrupted State = "interrupted"
)

// Final reports whether no generation can change a message in this state.
func (s State) Final() bool { return s != StateStreaming }

// Retryable reports whether an answer in this state may be generated again.
func (s State) Retryable() bool {
	return s == StateError || s == StateStopped || s == StateInterrupted
}

// Conversation is one thread of messages, owned by one session.
type Conversation struct {
	ID        string // random, from NewID; part of the URL /c/{id}
	SessionID string // the owner; nobody else may see it
	Title     string // from the first user message
	// SystemPrompt is sent first with every request of this conversation;
	// a new conversation starts with the configured default.
	SystemPrompt string
	// Model is the model (or Azure deployment) this conversation talks to,
	// one of those configured; empty means the default one.
	Model string
	// CurrentID is the last message of the branch shown (see Thread): the
	// version the user last chose, or the newest message; 0 before the
	// first message.
	CurrentID int64
	CreatedAt time.Time
	// UpdatedAt is when the conversation last got a message; the list is
	// ordered by it.
	UpdatedAt time.Time
	// ChangedAt is when the conversation itself last changed, its title or
	// settings (zero if never): such a change does not reorder the list,
	// but an export says the conversation changed.
	ChangedAt time.Time
	// Snippet is set by Store.SearchConversations on a conversation found
	// through one of its messages: the text around the first match.
	Snippet string
}

// Message is one user question or assistant answer.
type Message struct {
	ID             int64 // assigned by the store, increasing
	ConversationID string
	// ParentID is the message this one follows: the question an answer
	// answers, the answer a question follows; 0 for a first question.
	// Messages with the same parent are versions of one another (an edited
	// question, a regenerated answer).
	ParentID     int64
	Role         Role
	Content      string // for a streaming answer: the text up to the last checkpoint
	State        State
	FinishReason string    // as the model said it: "stop", "length", "content_filter", ...
	ErrorCode    ErrorCode // why a StateError answer ended; empty otherwise
	Model        string    // the model or deployment that wrote an answer
	Usage        Usage
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// RetryAt is, for an answer that failed because the model service was
	// busy, when the service said it may be asked again; zero if it did not.
	RetryAt time.Time
	// RequestID is the id of the request that started an answer, as the
	// log shows it; stored with the answer's end.
	RequestID string
}

// Usage counts the tokens of one answer, when the provider reports them.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
}

// TitleFrom makes a conversation title from the first user message: the first
// line, trimmed, at most 80 characters (not bytes, so Japanese is cut cleanly).
func TitleFrom(text string) string {
	const max = 80
	line := text
	for i, r := range text {
		if r == '\n' || r == '\r' {
			line = text[:i]
			break
		}
	}
	r := []rune(strings.TrimSpace(line))
	if len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return string(r)
}
