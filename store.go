package hxchat

import "context"

// Partial is the text so far of an answer being written.
type Partial struct {
	ID      int64
	Content string
}

// Store keeps sessions, conversations and messages. sqlite/ implements it;
// every method is safe for concurrent use. Lookups of a missing row return an
// error whose Code is ENotFound (ErrNotFound).
type Store interface {
	// CreateSession records a session id issued by the server.
	CreateSession(ctx context.Context, id string) error
	// SessionExists reports whether id was issued by CreateSession.
	SessionExists(ctx context.Context, id string) (bool, error)

	// Conversation returns the conversation id if sessionID owns it.
	Conversation(ctx context.Context, sessionID, id string) (*Conversation, error)
	// Conversations lists the session's conversations, most recently updated first.
	Conversations(ctx context.Context, sessionID string) ([]Conversation, error)
	// SearchConversations lists the session's conversations whose title or
	// any message contains query (case-insensitive for ASCII letters; any
	// script), most recently updated first.
	SearchConversations(ctx context.Context, sessionID, query string) ([]Conversation, error)
	// RenameConversation sets the title of a conversation the session owns.
	RenameConversation(ctx context.Context, sessionID, id, title string) error
	// DeleteConversation deletes a conversation the session owns, with all
	// its messages.
	DeleteConversation(ctx context.Context, sessionID, id string) error
	// Messages returns the messages of a conversation, oldest first.
	Messages(ctx context.Context, conversationID string) ([]Message, error)
	// Message returns one message of a conversation.
	Message(ctx context.Context, conversationID string, id int64) (*Message, error)

	// StartTurn stores a user message and the assistant message that will
	// answer it (State streaming), in one transaction. When conv.CreatedAt is
	// zero the conversation is created first, and its session is recorded
	// if it is not yet (a browser's first message: one write, not two). It
	// sets the ids and times of user and answer, and bumps the
	// conversation's UpdatedAt.
	StartTurn(ctx context.Context, conv *Conversation, user, answer *Message) error
	// RestartAnswer replaces the answer old, which must be the last message
	// of its conversation and final (done, failed, stopped or interrupted:
	// Retry and Regenerate), with a new streaming answer, in one transaction,
	// and sets answer's id and times. It returns an EConflict error when old
	// is not the last message or is still streaming.
	RestartAnswer(ctx context.Context, old *Message, answer *Message) error
	// EditTurn changes the text of the user message user (user.ID and
	// user.Content), deletes every message after it, and adds answer (state
	// streaming) after it, in one transaction; it sets answer's id and times.
	// It returns an EConflict error when an answer of the conversation is
	// still streaming, ENotFound when user is not a user message of the
	// conversation user.ConversationID.
	EditTurn(ctx context.Context, user *Message, answer *Message) error
	// SetConversationOptions stores the system prompt and model of a
	// conversation the session owns.
	SetConversationOptions(ctx context.Context, sessionID, id, systemPrompt, model string) error
	// Checkpoint saves the partial text of a streaming answer. It does nothing
	// to an answer that is no longer streaming.
	Checkpoint(ctx context.Context, id int64, content string) error
	// Checkpoints saves the partial texts of several streaming answers in one
	// transaction; an answer that is no longer streaming, or gone, is
	// skipped. The live runner saves every growing answer this way, once a
	// second, so that the store's writes do not grow with the answers.
	Checkpoints(ctx context.Context, parts []Partial) error
	// FinishAnswer saves the final content, state, finish reason, error code
	// and usage of an answer that is streaming.
	FinishAnswer(ctx context.Context, m *Message) error
	// InterruptStreaming marks every answer still streaming as interrupted, and
	// returns how many there were. It is called at start-up, when no
	// generation of this store can be running.
	InterruptStreaming(ctx context.Context) (int, error)

	Close() error
}
