package hxchat

import "context"

// Partial is the text so far of an answer being written.
type Partial struct {
	ID      int64
	Content string
}

// Pinger is a Store that can tell whether its database answers: sqlite/ and
// postgres/ implement it with a query that costs next to nothing. The web
// layer's readiness check (/readyz) asks it.
type Pinger interface {
	// Ping returns nil when the database answers a query, within ctx.
	Ping(ctx context.Context) error
}

// Store keeps sessions, conversations and messages. sqlite/ and postgres/ implement it;
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
	// any message contains query, most recently updated first. Text and
	// query are compared after folding (NFKC and width: full-width ＳＳＥ
	// finds SSE, half-width ｶﾀｶﾅ finds カタカナ; ASCII letters in either
	// case), in any script. A conversation found through a message has its
	// Snippet: the text around the first match.
	SearchConversations(ctx context.Context, sessionID, query string) ([]Conversation, error)
	// RenameConversation sets the title of a conversation the session owns,
	// and its ChangedAt; its UpdatedAt stays (the list keeps its order).
	RenameConversation(ctx context.Context, sessionID, id, title string) error
	// DeleteConversation deletes a conversation the session owns, with all
	// its messages.
	DeleteConversation(ctx context.Context, sessionID, id string) error
	// Messages returns every message of a conversation, every version of
	// every branch, oldest first, each with its ParentID (see Thread).
	Messages(ctx context.Context, conversationID string) ([]Message, error)
	// Message returns one message of a conversation.
	Message(ctx context.Context, conversationID string, id int64) (*Message, error)
	// OwnedMessage returns one message of a conversation if sessionID owns
	// the conversation (else ENotFound): Conversation and Message in one
	// query, for a request that names a message.
	OwnedMessage(ctx context.Context, sessionID, conversationID string, id int64) (*Message, error)

	// StartTurn stores a user message and the assistant message that will
	// answer it (State streaming), in one transaction. When conv.CreatedAt is
	// zero the conversation is created first, and its session is recorded
	// if it is not yet (a browser's first message: one write, not two).
	// Otherwise the user message follows user.ParentID, a message of the
	// conversation (else ENotFound), or when that is 0 the conversation's
	// CurrentID. It sets the ids, parents and times of user and answer,
	// makes the answer the conversation's CurrentID, and bumps its UpdatedAt.
	StartTurn(ctx context.Context, conv *Conversation, user, answer *Message) error
	// RestartAnswer adds answer (state streaming) as a new version of the
	// answer old, which must be final (done, failed, stopped or
	// interrupted: Retry and Regenerate), in one transaction: old and what
	// follows it are kept. It sets answer's id, parent and times and makes
	// it the conversation's CurrentID. It returns an EConflict error when
	// old is not an answer or is still streaming.
	RestartAnswer(ctx context.Context, old *Message, answer *Message) error
	// EditTurn adds a new version of the user message user.ID with the text
	// user.Content, and answer (state streaming) after it, in one
	// transaction: the old version and what follows it are kept. On success
	// user holds the new version and answer the answer, with their ids,
	// parents and times, and answer is the conversation's CurrentID. It
	// returns an EConflict error when an answer of the conversation is still
	// streaming, ENotFound when user is not a user message of the
	// conversation user.ConversationID.
	EditTurn(ctx context.Context, user *Message, answer *Message) error
	// SelectBranch makes message id the CurrentID of a conversation the
	// session owns: the branch that ends there is the one shown. It returns
	// ENotFound when the message is not one of that conversation. It does
	// not change the conversation's UpdatedAt.
	SelectBranch(ctx context.Context, sessionID, conversationID string, id int64) error
	// SetConversationOptions stores the system prompt and model of a
	// conversation the session owns, and its ChangedAt; its UpdatedAt stays.
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
	// generation of this store can be running: by a single process. Replicas
	// that share a store (see Cluster) take only the answers of replicas
	// that are gone, with Cluster.TakeExpired.
	InterruptStreaming(ctx context.Context) (int, error)

	Close() error
}
