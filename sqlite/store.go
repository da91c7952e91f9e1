package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/fold"
)

// now returns the current time as it is stored: UTC, whole milliseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// millisOrZero is t as stored, 0 for the zero time.
func millisOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis turns a stored time back into a time.Time in UTC.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// wrap annotates a database error with the operation; hxchat.Code reports it
// as EInternal and hxchat.SafeMessage reveals nothing of it.
func wrap(op string, err error) error { return fmt.Errorf("sqlite: %s: %w", op, err) }

// invalid reports a call that breaks the Store contract.
func invalid(format string, args ...any) error {
	return hxchat.Errorf(hxchat.EInvalid, format, args...)
}

// CreateSession records a session id issued by the server. An id that is
// already recorded is an EConflict error.
func (s *Store) CreateSession(ctx context.Context, id string) error {
	if id == "" {
		return invalid("The session id is empty.")
	}
	res, err := s.exec(ctx,
		"INSERT INTO sessions (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
		id, now().UnixMilli())
	if err != nil {
		return wrap("create session", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("create session", err)
	} else if n == 0 {
		return hxchat.Errorf(hxchat.EConflict, "The session exists already.")
	}
	return nil
}

// SessionExists reports whether id was recorded by CreateSession.
func (s *Store) SessionExists(ctx context.Context, id string) (bool, error) {
	var ok bool
	if err := s.r.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?)", id).Scan(&ok); err != nil {
		return false, wrap("session exists", err)
	}
	return ok, nil
}

const conversationColumns = "id, session_id, title, system_prompt, model, current_id, created_at, updated_at, changed_at"

func scanConversation(row interface{ Scan(...any) error }, c *hxchat.Conversation) error {
	var created, updated, changed int64
	if err := row.Scan(&c.ID, &c.SessionID, &c.Title, &c.SystemPrompt, &c.Model, &c.CurrentID, &created, &updated, &changed); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
	if changed != 0 {
		c.ChangedAt = fromMillis(changed)
	}
	return nil
}

// Conversation returns the conversation id if sessionID owns it, and
// hxchat.ErrNotFound if there is no such conversation or another session owns
// it.
func (s *Store) Conversation(ctx context.Context, sessionID, id string) (*hxchat.Conversation, error) {
	var c hxchat.Conversation
	err := scanConversation(s.r.QueryRowContext(ctx,
		"SELECT "+conversationColumns+" FROM conversations WHERE id = ? AND session_id = ?",
		id, sessionID), &c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hxchat.ErrNotFound
	}
	if err != nil {
		return nil, wrap("conversation", err)
	}
	return &c, nil
}

// Conversations lists the session's conversations, most recently updated
// first (of two updated in the same millisecond, the one created later first). An unknown
// session has none.
func (s *Store) Conversations(ctx context.Context, sessionID string) ([]hxchat.Conversation, error) {
	rows, err := s.r.QueryContext(ctx,
		"SELECT "+conversationColumns+" FROM conversations WHERE session_id = ? ORDER BY updated_at DESC, rowid DESC",
		sessionID)
	if err != nil {
		return nil, wrap("conversations", err)
	}
	defer rows.Close()
	list := []hxchat.Conversation{}
	for rows.Next() {
		var c hxchat.Conversation
		if err := scanConversation(rows, &c); err != nil {
			return nil, wrap("conversations", err)
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("conversations", err)
	}
	return list, nil
}

// searchSQL lists the conversations of a session (third argument) whose
// title or any message content contains the folded query (first and
// second), the text folded by fold_text (see package fold); with each, the
// content of its first message that matches, or NULL when only the title
// does.
//
// instr on folded text, not FTS5: FTS5's default unicode61 tokenizer splits
// text at spaces and punctuation, and Japanese puts none between words, so
// 東京 would not match 東京に行きたい; its trigram tokenizer splits any script
// but cannot match a query shorter than three characters, and two-character
// words such as 東京 are common. A substring of the folded text matches in
// any script, and needs no escaping of LIKE's wildcards. No index helps: the
// session's conversations are found with conversations_session_updated
// (which also gives the order) and each one's messages with
// messages_conversation_id, then folded and scanned, up to the first match.
// That is one session's history.
const searchSQL = "SELECT " + conversationColumns + ", hit FROM (" +
	"SELECT " + conversationColumns + ", rowid AS rid, instr(fold_text(title), ?) > 0 AS in_title, " +
	"(SELECT m.content FROM messages m WHERE m.conversation_id = c.id AND instr(fold_text(m.content), ?) > 0 ORDER BY m.id LIMIT 1) AS hit " +
	"FROM conversations c WHERE c.session_id = ?" +
	") WHERE in_title OR hit IS NOT NULL ORDER BY updated_at DESC, rid DESC"

// foldSQL is the SQL function fold_text(s): fold.String, for searchSQL.
const foldSQL = "fold_text"

func init() {
	msqlite.MustRegisterDeterministicScalarFunction(foldSQL, 1, func(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return fold.String(v), nil
		case []byte:
			return fold.String(string(v)), nil
		case nil:
			return nil, nil
		}
		return nil, fmt.Errorf("fold_text: not text: %T", args[0])
	})
}

// maxSearchLen is the longest search query, in bytes after trimming, that
// SearchConversations accepts.
const maxSearchLen = 4096

// Snippet lengths, in characters: before and after the first match.
const snippetBefore, snippetAfter = 30, 60

// SearchConversations lists the session's conversations whose title or any
// message (user or assistant, whatever its state) contains query, most
// recently updated first, in the order of Conversations. Text and query are
// compared folded (package fold): Unicode NFKC and width, so that
// full-width ＳＳＥ finds SSE and half-width ｶﾀｶﾅ finds カタカナ, and ASCII
// letters in either case (a and A, not é and É); %, _ and \ are plain
// characters. Each conversation found through a message has its Snippet:
// the text around the first match in its first matching message. Spaces
// around query are ignored; an empty or blank query lists every
// conversation, like Conversations. A query longer than 4096 bytes is an
// ETooLarge error.
func (s *Store) SearchConversations(ctx context.Context, sessionID, query string) ([]hxchat.Conversation, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return s.Conversations(ctx, sessionID)
	}
	if len(q) > maxSearchLen {
		return nil, hxchat.Errorf(hxchat.ETooLarge, "The search text is too long.")
	}
	fq := strings.TrimSpace(fold.String(q))
	if fq == "" {
		return []hxchat.Conversation{}, nil // folds to spaces only: nothing to find
	}
	rows, err := s.r.QueryContext(ctx, searchSQL, fq, fq, sessionID)
	if err != nil {
		return nil, wrap("search conversations", err)
	}
	defer rows.Close()
	list := []hxchat.Conversation{}
	for rows.Next() {
		var c hxchat.Conversation
		var created, updated, changed int64
		var hit sql.NullString
		if err := rows.Scan(&c.ID, &c.SessionID, &c.Title, &c.SystemPrompt, &c.Model, &c.CurrentID, &created, &updated, &changed, &hit); err != nil {
			return nil, wrap("search conversations", err)
		}
		c.CreatedAt, c.UpdatedAt = fromMillis(created), fromMillis(updated)
		if changed != 0 {
			c.ChangedAt = fromMillis(changed)
		}
		if hit.Valid {
			c.Snippet = fold.Snippet(hit.String, fq, snippetBefore, snippetAfter)
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("search conversations", err)
	}
	return list, nil
}

// maxTitleLen is the longest conversation title, in characters (runes), that
// RenameConversation stores.
const maxTitleLen = 200

// RenameConversation sets the title of conversation id, owned by sessionID,
// to title without its surrounding spaces, cut to 200 characters. A
// title that is empty or blank is an EInvalid error; a missing conversation,
// or one another session owns, is hxchat.ErrNotFound. The conversation's
// UpdatedAt does not change, so renaming does not reorder the list.
func (s *Store) RenameConversation(ctx context.Context, sessionID, id, title string) error {
	t := strings.TrimSpace(title)
	n := 0
	for i := range t {
		if n == maxTitleLen {
			t = strings.TrimSpace(t[:i])
			break
		}
		n++
	}
	if t == "" {
		return invalid("The title is empty.")
	}
	res, err := s.exec(ctx,
		"UPDATE conversations SET title = ?, changed_at = ? WHERE id = ? AND session_id = ?", t, now().UnixMilli(), id, sessionID)
	if err != nil {
		return wrap("rename conversation", err)
	}
	// SQLite counts the rows the WHERE matched, also when the title was the
	// same already.
	if n, err := res.RowsAffected(); err != nil {
		return wrap("rename conversation", err)
	} else if n == 0 {
		return hxchat.ErrNotFound
	}
	return nil
}

// DeleteConversation deletes conversation id, owned by sessionID, and its
// messages (ON DELETE CASCADE); a missing conversation, or one another
// session owns, is hxchat.ErrNotFound. Message ids are not reused afterwards.
func (s *Store) DeleteConversation(ctx context.Context, sessionID, id string) error {
	res, err := s.exec(ctx,
		"DELETE FROM conversations WHERE id = ? AND session_id = ?", id, sessionID)
	if err != nil {
		return wrap("delete conversation", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("delete conversation", err)
	} else if n == 0 {
		return hxchat.ErrNotFound
	}
	return nil
}

const messageColumns = "id, conversation_id, coalesce(parent_id, 0), role, content, state, finish_reason, error_code, model, " +
	"prompt_tokens, completion_tokens, created_at, updated_at, retry_at, request_id"

func scanMessage(row interface{ Scan(...any) error }, m *hxchat.Message) error {
	var role, state, code string
	var created, updated, retryAt int64
	if err := row.Scan(&m.ID, &m.ConversationID, &m.ParentID, &role, &m.Content, &state, &m.FinishReason, &code, &m.Model,
		&m.Usage.PromptTokens, &m.Usage.CompletionTokens, &created, &updated, &retryAt, &m.RequestID); err != nil {
		return err
	}
	m.Role, m.State, m.ErrorCode = hxchat.Role(role), hxchat.State(state), hxchat.ErrorCode(code)
	m.CreatedAt, m.UpdatedAt = fromMillis(created), fromMillis(updated)
	if retryAt != 0 {
		m.RetryAt = fromMillis(retryAt)
	}
	return nil
}

// Messages returns the messages of a conversation, every version of every
// branch, in the order of their ids, oldest first, and hxchat.ErrNotFound if
// there is no such conversation. It
// does not check who owns the conversation; call Conversation for that.
func (s *Store) Messages(ctx context.Context, conversationID string) ([]hxchat.Message, error) {
	rows, err := s.r.QueryContext(ctx,
		"SELECT "+messageColumns+" FROM messages WHERE conversation_id = ? ORDER BY id",
		conversationID)
	if err != nil {
		return nil, wrap("messages", err)
	}
	defer rows.Close()
	list := []hxchat.Message{}
	for rows.Next() {
		var m hxchat.Message
		if err := scanMessage(rows, &m); err != nil {
			return nil, wrap("messages", err)
		}
		list = append(list, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("messages", err)
	}
	if len(list) == 0 {
		// StartTurn creates a conversation with its first two messages, so
		// only a missing conversation has none; say which.
		var ok bool
		if err := s.r.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM conversations WHERE id = ?)",
			conversationID).Scan(&ok); err != nil {
			return nil, wrap("messages", err)
		}
		if !ok {
			return nil, hxchat.ErrNotFound
		}
	}
	return list, nil
}

// Message returns message id of the conversation, and hxchat.ErrNotFound if
// the conversation has no such message (even if another one has).
func (s *Store) Message(ctx context.Context, conversationID string, id int64) (*hxchat.Message, error) {
	var m hxchat.Message
	err := scanMessage(s.r.QueryRowContext(ctx,
		"SELECT "+messageColumns+" FROM messages WHERE id = ? AND conversation_id = ?",
		id, conversationID), &m)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hxchat.ErrNotFound
	}
	if err != nil {
		return nil, wrap("message", err)
	}
	return &m, nil
}

// OwnedMessage implements hxchat.Store.
func (s *Store) OwnedMessage(ctx context.Context, sessionID, conversationID string, id int64) (*hxchat.Message, error) {
	var m hxchat.Message
	err := scanMessage(s.r.QueryRowContext(ctx,
		"SELECT "+messageColumns+" FROM messages WHERE id = ? AND conversation_id = ? "+
			"AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = messages.conversation_id AND c.session_id = ?)",
		id, conversationID, sessionID), &m)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hxchat.ErrNotFound
	}
	if err != nil {
		return nil, wrap("message", err)
	}
	return &m, nil
}

// insertMessage inserts m into the conversation, after m.ParentID (none
// when 0), and returns its id.
func insertMessage(ctx context.Context, tx wtx, convID string, m *hxchat.Message, t time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, "INSERT INTO messages ("+
		"conversation_id, parent_id, role, content, state, finish_reason, error_code, model, "+
		"prompt_tokens, completion_tokens, created_at, updated_at"+
		") VALUES (?, nullif(?, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		convID, m.ParentID, string(m.Role), m.Content, string(m.State), m.FinishReason, string(m.ErrorCode), m.Model,
		m.Usage.PromptTokens, m.Usage.CompletionTokens, t.UnixMilli(), t.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// setCurrent makes message id the current one of conversation convID.
func setCurrent(ctx context.Context, tx wtx, convID string, id int64) error {
	_, err := tx.ExecContext(ctx, "UPDATE conversations SET current_id = ? WHERE id = ?", id, convID)
	return err
}

// inConversation reports whether message id belongs to conversation convID.
func inConversation(ctx context.Context, tx wtx, convID string, id int64) (bool, error) {
	var ok bool
	err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?)", id, convID).Scan(&ok)
	return ok, err
}

// bumpConversation sets the conversation's updated_at to t, or one
// millisecond past its current value if that is not earlier, so that every
// turn moves it forward; it returns the stored row. Only the owner may.
func bumpConversation(ctx context.Context, tx wtx, c *hxchat.Conversation, sessionID, id string, t time.Time) error {
	return scanConversation(tx.QueryRowContext(ctx,
		"UPDATE conversations SET updated_at = max(?, updated_at + 1) WHERE id = ? AND session_id = ? RETURNING "+conversationColumns,
		t.UnixMilli(), id, sessionID), c)
}

// StartTurn stores the user message and the streaming answer to it in one
// transaction. When conv.CreatedAt is zero it first creates the conversation,
// with a new id from hxchat.NewID when conv.ID is empty, a title from
// hxchat.TitleFrom(user.Content) when conv.Title is empty, and conv's
// SystemPrompt and Model as they are (not checked: SetConversationOptions
// is where a user sets them); the session must
// exist (else hxchat.ErrNotFound) and the id must be new (else EConflict).
// Otherwise the conversation must exist and be owned by conv.SessionID (else
// hxchat.ErrNotFound) and its UpdatedAt moves forward; its other fields,
// SystemPrompt and Model included, are the stored ones, whatever conv says.
// The user message then follows user.ParentID, which must be a message of
// the conversation (else hxchat.ErrNotFound), or the stored CurrentID when
// user.ParentID is 0.
//
// The user message is stored with Role user, State done and its Content; the
// answer with Role assistant, State streaming, its Content (normally empty)
// and Model, after the user message; the answer becomes the conversation's
// CurrentID. On success conv, user and answer hold what was stored: ids,
// parents, conversation id, times. On error they are unchanged.
func (s *Store) StartTurn(ctx context.Context, conv *hxchat.Conversation, user, answer *hxchat.Message) error {
	if conv == nil || user == nil || answer == nil {
		return invalid("StartTurn needs a conversation, a user message and an answer.")
	}
	if conv.SessionID == "" {
		return invalid("The conversation has no session.")
	}
	t := now()
	var c hxchat.Conversation
	var u, a hxchat.Message
	// The turn is one write of a group (see group.go): run may run again
	// after a failed group, so it starts from the arguments each time.
	err := s.grouped(ctx, "start turn", func(ctx context.Context, tx wtx) (err error) {
		c, u, a, err = startTurn(ctx, tx, conv, user, answer, t)
		return err
	})
	if err != nil {
		return err
	}
	*conv, *user, *answer = c, u, a
	return nil
}

// startTurn writes the turn of StartTurn in tx and returns the
// conversation, the user message and the answer as stored.
func startTurn(ctx context.Context, tx wtx, conv *hxchat.Conversation, user, answer *hxchat.Message, t time.Time) (c hxchat.Conversation, u, a hxchat.Message, err error) {
	u = hxchat.Message{Role: hxchat.RoleUser, Content: user.Content, State: hxchat.StateDone, CreatedAt: t, UpdatedAt: t}
	a = hxchat.Message{Role: hxchat.RoleAssistant, Content: answer.Content, State: hxchat.StateStreaming,
		Model: answer.Model, CreatedAt: t, UpdatedAt: t}
	fail := func(err error) (hxchat.Conversation, hxchat.Message, hxchat.Message, error) {
		return hxchat.Conversation{}, hxchat.Message{}, hxchat.Message{}, err
	}

	if conv.CreatedAt.IsZero() {
		c = hxchat.Conversation{ID: conv.ID, SessionID: conv.SessionID, Title: conv.Title,
			SystemPrompt: conv.SystemPrompt, Model: conv.Model, CreatedAt: t, UpdatedAt: t}
		if c.ID == "" {
			c.ID = hxchat.NewID()
		}
		if c.Title == "" {
			c.Title = hxchat.TitleFrom(user.Content)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO sessions (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
			c.SessionID, t.UnixMilli()); err != nil {
			return fail(wrap("start turn", err))
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO conversations ("+conversationColumns+") VALUES (?, ?, ?, ?, ?, 0, ?, ?, 0) ON CONFLICT (id) DO NOTHING",
			c.ID, c.SessionID, c.Title, c.SystemPrompt, c.Model, t.UnixMilli(), t.UnixMilli())
		if err != nil {
			return fail(wrap("start turn", err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return fail(wrap("start turn", err))
		} else if n == 0 {
			return fail(hxchat.Errorf(hxchat.EConflict, "The conversation exists already."))
		}
	} else {
		err := bumpConversation(ctx, tx, &c, conv.SessionID, conv.ID, t)
		if errors.Is(err, sql.ErrNoRows) {
			return fail(hxchat.ErrNotFound)
		}
		if err != nil {
			return fail(wrap("start turn", err))
		}
		u.ParentID = cmp.Or(user.ParentID, c.CurrentID)
		if u.ParentID != 0 {
			ok, err := inConversation(ctx, tx, c.ID, u.ParentID)
			if err != nil {
				return fail(wrap("start turn", err))
			}
			if !ok {
				return fail(hxchat.ErrNotFound)
			}
		}
	}

	if u.ID, err = insertMessage(ctx, tx, c.ID, &u, t); err != nil {
		return fail(wrap("start turn", err))
	}
	a.ParentID = u.ID
	if a.ID, err = insertMessage(ctx, tx, c.ID, &a, t); err != nil {
		return fail(wrap("start turn", err))
	}
	if err := setCurrent(ctx, tx, c.ID, a.ID); err != nil {
		return fail(wrap("start turn", err))
	}
	c.CurrentID = a.ID
	u.ConversationID, a.ConversationID = c.ID, c.ID
	return c, u, a, nil
}

// RestartAnswer stores answer as a new version of the answer old: a new
// streaming message with a new, greater id, after the question old answers,
// in one transaction; old and every message after it stay. answer becomes
// the conversation's CurrentID, and the conversation's UpdatedAt moves
// forward. It goes by what is stored, not by old's fields: old.ID must be an
// assistant message (of old.ConversationID, when that is set; else
// hxchat.ErrNotFound) that is final (done, error, stopped or interrupted:
// Retry and Regenerate alike); else it returns an EConflict error and
// changes nothing. answer is stored like the answer of StartTurn and, on
// success, holds what was stored.
func (s *Store) RestartAnswer(ctx context.Context, old *hxchat.Message, answer *hxchat.Message) error {
	if old == nil || answer == nil {
		return invalid("RestartAnswer needs the old and the new answer.")
	}
	t := now()
	tx, err := s.begin(ctx)
	if err != nil {
		return wrap("restart answer", err)
	}
	defer tx.Rollback()

	var convID, sessionID, role, state string
	var parent int64
	err = tx.QueryRowContext(ctx,
		"SELECT m.conversation_id, c.session_id, m.role, m.state, coalesce(m.parent_id, 0) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?",
		old.ID).Scan(&convID, &sessionID, &role, &state, &parent)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && old.ConversationID != "" && old.ConversationID != convID) {
		return hxchat.ErrNotFound
	}
	if err != nil {
		return wrap("restart answer", err)
	}
	if hxchat.Role(role) != hxchat.RoleAssistant {
		return hxchat.Errorf(hxchat.EConflict, "Only an answer can be generated again.")
	}
	if !hxchat.State(state).Final() {
		return hxchat.Errorf(hxchat.EConflict, "This answer is still being written.")
	}

	var c hxchat.Conversation
	if err := bumpConversation(ctx, tx, &c, sessionID, convID, t); err != nil {
		return wrap("restart answer", err)
	}
	a := hxchat.Message{ConversationID: convID, ParentID: parent, Role: hxchat.RoleAssistant, Content: answer.Content,
		State: hxchat.StateStreaming, Model: answer.Model, CreatedAt: t, UpdatedAt: t}
	if a.ID, err = insertMessage(ctx, tx, convID, &a, t); err != nil {
		return wrap("restart answer", err)
	}
	if err := setCurrent(ctx, tx, convID, a.ID); err != nil {
		return wrap("restart answer", err)
	}
	if err := tx.Commit(); err != nil {
		return wrap("restart answer", err)
	}
	*answer = a
	return nil
}

// EditTurn stores a new version of the user message user.ID with the text
// user.Content (after the same message as user.ID), and answer after it, as
// new messages with new, greater ids, in one transaction; the old version
// and every message after it stay. answer becomes the conversation's
// CurrentID, and the conversation's UpdatedAt moves forward. It goes by
// what is stored: user.ID must be a user message of the conversation
// user.ConversationID, else it returns hxchat.ErrNotFound; no answer of that
// conversation may be streaming, else it returns an EConflict error. Either
// way nothing changes. It does not check who owns the conversation; call
// Conversation for that.
//
// answer is stored like the answer of StartTurn. On success user holds the
// new version and answer the answer, as stored; on error they are
// unchanged.
func (s *Store) EditTurn(ctx context.Context, user *hxchat.Message, answer *hxchat.Message) error {
	if user == nil || answer == nil {
		return invalid("EditTurn needs the user message and an answer.")
	}
	t := now()
	tx, err := s.begin(ctx)
	if err != nil {
		return wrap("edit turn", err)
	}
	defer tx.Rollback()

	var sessionID, role string
	var parent int64
	err = tx.QueryRowContext(ctx,
		"SELECT c.session_id, m.role, coalesce(m.parent_id, 0) FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ? AND m.conversation_id = ?",
		user.ID, user.ConversationID).Scan(&sessionID, &role, &parent)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && hxchat.Role(role) != hxchat.RoleUser) {
		return hxchat.ErrNotFound
	}
	if err != nil {
		return wrap("edit turn", err)
	}
	convID := user.ConversationID
	var streaming bool
	if err := tx.QueryRowContext(ctx,
		"SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = ? AND state = 'streaming')",
		convID).Scan(&streaming); err != nil {
		return wrap("edit turn", err)
	}
	if streaming {
		return hxchat.Errorf(hxchat.EConflict, "Wait for the answer to end, or stop it, before editing.")
	}

	var c hxchat.Conversation
	if err := bumpConversation(ctx, tx, &c, sessionID, convID, t); err != nil {
		return wrap("edit turn", err)
	}
	u := hxchat.Message{ConversationID: convID, ParentID: parent, Role: hxchat.RoleUser, Content: user.Content,
		State: hxchat.StateDone, CreatedAt: t, UpdatedAt: t}
	if u.ID, err = insertMessage(ctx, tx, convID, &u, t); err != nil {
		return wrap("edit turn", err)
	}
	a := hxchat.Message{ConversationID: convID, ParentID: u.ID, Role: hxchat.RoleAssistant, Content: answer.Content,
		State: hxchat.StateStreaming, Model: answer.Model, CreatedAt: t, UpdatedAt: t}
	if a.ID, err = insertMessage(ctx, tx, convID, &a, t); err != nil {
		return wrap("edit turn", err)
	}
	if err := setCurrent(ctx, tx, convID, a.ID); err != nil {
		return wrap("edit turn", err)
	}
	if err := tx.Commit(); err != nil {
		return wrap("edit turn", err)
	}
	*user, *answer = u, a
	return nil
}

// SelectBranch makes message id the CurrentID of conversation convID, owned
// by sessionID: the branch shown ends there. A message that is not one of
// that conversation, or a conversation another session owns, is
// hxchat.ErrNotFound. UpdatedAt does not change: the list keeps its order.
func (s *Store) SelectBranch(ctx context.Context, sessionID, convID string, id int64) error {
	res, err := s.exec(ctx,
		"UPDATE conversations SET current_id = ? WHERE id = ? AND session_id = ? "+
			"AND EXISTS (SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?)",
		id, convID, sessionID, id, convID)
	if err != nil {
		return wrap("select branch", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("select branch", err)
	} else if n == 0 {
		return hxchat.ErrNotFound
	}
	return nil
}

// MaxSystemPrompt is the longest system prompt, in bytes, that
// SetConversationOptions stores: 32 KiB.
const MaxSystemPrompt = 32 << 10

// SetConversationOptions stores the system prompt and model of conversation
// id, owned by sessionID, exactly as given: spaces and line breaks are part
// of a prompt, and an empty prompt or model is stored as empty (the model
// then is the default one). The model is not checked against the
// configuration; the caller does that. A system prompt longer than
// MaxSystemPrompt bytes is an ETooLarge error; a missing conversation, or
// one another session owns, is hxchat.ErrNotFound. Either way nothing
// changes. The conversation's UpdatedAt does not change, so this does not
// reorder the list.
func (s *Store) SetConversationOptions(ctx context.Context, sessionID, id, systemPrompt, model string) error {
	if len(systemPrompt) > MaxSystemPrompt {
		return hxchat.Errorf(hxchat.ETooLarge, "The system prompt is too long (at most %d KiB).", MaxSystemPrompt>>10)
	}
	res, err := s.exec(ctx,
		"UPDATE conversations SET system_prompt = ?, model = ?, changed_at = ? WHERE id = ? AND session_id = ?",
		systemPrompt, model, now().UnixMilli(), id, sessionID)
	if err != nil {
		return wrap("set conversation options", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("set conversation options", err)
	} else if n == 0 {
		return hxchat.ErrNotFound
	}
	return nil
}

// Checkpoint saves content as the partial text of answer id while it is
// streaming. It does nothing to an answer that is no longer streaming, and
// returns hxchat.ErrNotFound when there is no message id.
func (s *Store) Checkpoint(ctx context.Context, id int64, content string) error {
	res, err := s.exec(ctx,
		"UPDATE messages SET content = ?, updated_at = ? WHERE id = ? AND state = 'streaming'",
		content, now().UnixMilli(), id)
	if err != nil {
		return wrap("checkpoint", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("checkpoint", err)
	}
	if n == 0 {
		return s.exists(ctx, "checkpoint", id)
	}
	return nil
}

// Checkpoints implements hxchat.Store: one transaction and one prepared
// statement for all the answers.
func (s *Store) Checkpoints(ctx context.Context, parts []hxchat.Partial) error {
	if len(parts) == 0 {
		return nil
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return wrap("checkpoints", err)
	}
	defer tx.Rollback()
	st, err := tx.stmt(ctx, "UPDATE messages SET content = ?, updated_at = ? WHERE id = ? AND state = 'streaming'")
	if err != nil {
		return wrap("checkpoints", err)
	}
	at := now().UnixMilli()
	for _, p := range parts {
		if _, err := st.ExecContext(ctx, p.Content, at, p.ID); err != nil {
			return wrap("checkpoints", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap("checkpoints", err)
	}
	return nil
}

// exists returns nil if message id exists and hxchat.ErrNotFound if not.
func (s *Store) exists(ctx context.Context, op string, id int64) error {
	var ok bool
	// Not cancelled with the caller's context: the write it follows is done;
	// say why that changed nothing even if the caller has given up meanwhile.
	if err := s.r.QueryRowContext(context.WithoutCancel(ctx), "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?)", id).Scan(&ok); err != nil {
		return wrap(op, err)
	}
	if !ok {
		return hxchat.ErrNotFound
	}
	return nil
}

// FinishAnswer saves the final Content, State, FinishReason, ErrorCode, Usage,
// RetryAt, RequestID and Model of the streaming answer m.ID (an empty Model
// keeps the one stored by StartTurn). m.State must be final (done, error, stopped or interrupted),
// else it is an EInvalid error. It returns hxchat.ErrNotFound when there is no
// message m.ID, and an EConflict error, changing nothing, when the answer is
// no longer streaming. On success m holds the stored conversation id, role,
// model and times.
func (s *Store) FinishAnswer(ctx context.Context, m *hxchat.Message) error {
	if m == nil {
		return invalid("FinishAnswer needs an answer.")
	}
	switch m.State {
	case hxchat.StateDone, hxchat.StateError, hxchat.StateStopped, hxchat.StateInterrupted:
	default:
		return invalid("An answer cannot finish in state %q.", m.State)
	}
	t := now()
	var convID, role, model string
	var created int64
	// One write of a group (see group.go).
	err := s.grouped(ctx, "finish answer", func(ctx context.Context, tx wtx) error {
		err := tx.QueryRowContext(ctx, "UPDATE messages SET "+
			"content = ?, state = ?, finish_reason = ?, error_code = ?, model = coalesce(nullif(?, ''), model), "+
			"prompt_tokens = ?, completion_tokens = ?, updated_at = ?, retry_at = ?, request_id = ? "+
			"WHERE id = ? AND state = 'streaming' RETURNING conversation_id, role, model, created_at",
			m.Content, string(m.State), m.FinishReason, string(m.ErrorCode), m.Model,
			m.Usage.PromptTokens, m.Usage.CompletionTokens, t.UnixMilli(), millisOrZero(m.RetryAt), m.RequestID, m.ID).Scan(&convID, &role, &model, &created)
		if errors.Is(err, sql.ErrNoRows) {
			var ok bool
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?)", m.ID).Scan(&ok); err != nil {
				return wrap("finish answer", err)
			}
			if !ok {
				return hxchat.ErrNotFound
			}
			return hxchat.Errorf(hxchat.EConflict, "The answer has ended already.")
		}
		if err != nil {
			return wrap("finish answer", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.ConversationID, m.Role, m.Model = convID, hxchat.Role(role), model
	m.CreatedAt, m.UpdatedAt = fromMillis(created), t
	return nil
}

// InterruptStreaming marks every answer still streaming as interrupted,
// keeping the text of its last checkpoint, and returns how many there were.
// Call it at start-up, before any generation of this store runs.
func (s *Store) InterruptStreaming(ctx context.Context) (int, error) {
	res, err := s.exec(ctx,
		"UPDATE messages SET state = 'interrupted', updated_at = ? WHERE state = 'streaming'",
		now().UnixMilli())
	if err != nil {
		return 0, wrap("interrupt streaming", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap("interrupt streaming", err)
	}
	return int(n), nil
}
