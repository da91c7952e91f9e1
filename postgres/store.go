package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/internal/fold"
)

// now returns the current time as it is stored: UTC, whole milliseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// nullTime is t for a nullable column: nil for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// utc returns a stored time in UTC, the zero time for NULL.
func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// text returns s as PostgreSQL's text can hold it: invalid UTF-8 and NUL
// become U+FFFD. Valid text without NUL, all that users can send, is
// returned as it is.
func text(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// wrap annotates a database error with the operation; hxchat.Code reports it
// as EInternal and hxchat.SafeMessage reveals nothing of it.
func wrap(op string, err error) error { return fmt.Errorf("postgres: %s: %w", op, err) }

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
	tag, err := s.pool.Exec(ctx,
		"INSERT INTO sessions (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", text(id), now())
	if err != nil {
		return wrap("create session", err)
	}
	if tag.RowsAffected() == 0 {
		return hxchat.Errorf(hxchat.EConflict, "The session exists already.")
	}
	return nil
}

// SessionExists reports whether id was recorded by CreateSession.
func (s *Store) SessionExists(ctx context.Context, id string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)", text(id)).Scan(&ok); err != nil {
		return false, wrap("session exists", err)
	}
	return ok, nil
}

// conversationColumns are the columns scanConversation reads, of the
// table named c.
const conversationColumns = "c.id, c.session_id, c.title, c.system_prompt, c.model, c.current_id, c.created_at, c.updated_at, c.changed_at"

func scanConversation(row pgx.Row, c *hxchat.Conversation, more ...any) error {
	var changed *time.Time
	err := row.Scan(append([]any{&c.ID, &c.SessionID, &c.Title, &c.SystemPrompt, &c.Model, &c.CurrentID,
		&c.CreatedAt, &c.UpdatedAt, &changed}, more...)...)
	if err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt, c.ChangedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), utc(changed)
	return nil
}

// Conversation returns the conversation id if sessionID owns it, and
// hxchat.ErrNotFound if there is no such conversation or another session owns
// it.
func (s *Store) Conversation(ctx context.Context, sessionID, id string) (*hxchat.Conversation, error) {
	var c hxchat.Conversation
	err := scanConversation(s.pool.QueryRow(ctx,
		"SELECT "+conversationColumns+" FROM conversations c WHERE c.id = $1 AND c.session_id = $2",
		text(id), text(sessionID)), &c)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hxchat.ErrNotFound
	}
	if err != nil {
		return nil, wrap("conversation", err)
	}
	return &c, nil
}

// listSQL is the order of the list: most recently updated first, and of
// two updated in the same millisecond the one created later
// (conversations_session_updated serves it).
const listSQL = " ORDER BY c.updated_at DESC, c.seq DESC"

// Conversations lists the session's conversations, most recently updated
// first (of two updated in the same millisecond, the one created later
// first). An unknown session has none.
func (s *Store) Conversations(ctx context.Context, sessionID string) ([]hxchat.Conversation, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT "+conversationColumns+" FROM conversations c WHERE c.session_id = $1"+listSQL, text(sessionID))
	if err != nil {
		return nil, wrap("conversations", err)
	}
	list := []hxchat.Conversation{}
	for rows.Next() {
		var c hxchat.Conversation
		if err := scanConversation(rows, &c); err != nil {
			rows.Close()
			return nil, wrap("conversations", err)
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("conversations", err)
	}
	return list, nil
}

// hitsSQL finds, among the messages of a session ($1), those whose folded
// text is LIKE the pattern $2, and returns for each conversation the first
// one: its conversation and content. Final messages and streaming answers
// are looked up apart, because the trigram index messages_content_trgm
// holds only the final ones: for those, PostgreSQL's planner reads either
// that index (a query of three characters or more that is rare in the
// session's messages) or the session's conversations and their messages (a
// short or common query, or no pg_trgm); the few streaming answers come
// from messages_streaming. Full-text search would not do: its parsers split
// words at spaces, and Japanese has none between words.
const hitsSQL = "SELECT DISTINCT ON (h.conversation_id) h.conversation_id, h.content FROM (" +
	"SELECT m.conversation_id, m.id, m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id " +
	"WHERE c.session_id = $1 AND m.state <> 'streaming' AND m.content_folded LIKE $2 " +
	"UNION ALL " +
	"SELECT m.conversation_id, m.id, m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id " +
	"WHERE c.session_id = $1 AND m.state = 'streaming' AND m.content_folded LIKE $2" +
	") h ORDER BY h.conversation_id, h.id"

// foundSQL lists the conversations of a session ($1) whose folded title is
// LIKE the pattern $2 or whose id is in $3 (those hitsSQL found), in the
// order of Conversations. (One statement joining the two goes wrong: the
// planner cannot guess how many messages a pattern matches, guesses one,
// and joins by a nested loop that compares every conversation with every
// hit. An array of ids is hashed.)
const foundSQL = "SELECT " + conversationColumns + " FROM conversations c " +
	"WHERE c.session_id = $1 AND (c.title_folded LIKE $2 OR c.id = ANY ($3))" + listSQL

// likeEscaper makes a text a literal part of a LIKE pattern, whose escape
// character is \ by default.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

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
// letters in either case; %, _ and \ are plain characters. Each
// conversation found through a message has its Snippet: the text around the
// first match in its first matching message. Spaces around query are
// ignored; an empty or blank query lists every conversation, like
// Conversations. A query longer than 4096 bytes is an ETooLarge error.
func (s *Store) SearchConversations(ctx context.Context, sessionID, query string) ([]hxchat.Conversation, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return s.Conversations(ctx, sessionID)
	}
	if len(q) > maxSearchLen {
		return nil, hxchat.Errorf(hxchat.ETooLarge, "The search text is too long.")
	}
	fq := strings.TrimSpace(fold.String(text(q)))
	if fq == "" {
		return []hxchat.Conversation{}, nil // folds to spaces only: nothing to find
	}
	// Both statements in QueryExecModeExec: planned for these values each
	// time, never with a cached generic plan, which does not know the
	// pattern (a query of two characters has no trigram, and the index would
	// be read whole).
	sid, pattern := text(sessionID), "%"+likeEscaper.Replace(fq)+"%"
	rows, err := s.pool.Query(ctx, hitsSQL, pgx.QueryExecModeExec, sid, pattern)
	if err != nil {
		return nil, wrap("search conversations", err)
	}
	hits := map[string]string{}
	var id, content string
	_, err = pgx.ForEachRow(rows, []any{&id, &content}, func() error {
		hits[id] = content
		return nil
	})
	if err != nil {
		return nil, wrap("search conversations", err)
	}
	ids := slices.Collect(maps.Keys(hits))
	rows, err = s.pool.Query(ctx, foundSQL, pgx.QueryExecModeExec, sid, pattern, ids)
	if err != nil {
		return nil, wrap("search conversations", err)
	}
	list := []hxchat.Conversation{}
	for rows.Next() {
		var c hxchat.Conversation
		if err := scanConversation(rows, &c); err != nil {
			rows.Close()
			return nil, wrap("search conversations", err)
		}
		if hit, ok := hits[c.ID]; ok {
			c.Snippet = fold.Snippet(hit, fq, snippetBefore, snippetAfter)
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
	t := strings.TrimSpace(text(title))
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
	tag, err := s.pool.Exec(ctx,
		"UPDATE conversations SET title = $1, title_folded = $2, changed_at = $3 WHERE id = $4 AND session_id = $5",
		t, fold.String(t), now(), text(id), text(sessionID))
	if err != nil {
		return wrap("rename conversation", err)
	}
	if tag.RowsAffected() == 0 {
		return hxchat.ErrNotFound
	}
	return nil
}

// DeleteConversation deletes conversation id, owned by sessionID, and its
// messages (ON DELETE CASCADE); a missing conversation, or one another
// session owns, is hxchat.ErrNotFound. Message ids are not reused afterwards.
func (s *Store) DeleteConversation(ctx context.Context, sessionID, id string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM conversations WHERE id = $1 AND session_id = $2", text(id), text(sessionID))
	if err != nil {
		return wrap("delete conversation", err)
	}
	if tag.RowsAffected() == 0 {
		return hxchat.ErrNotFound
	}
	return nil
}

// messageColumns are the columns scanMessage reads, of the table named m.
const messageColumns = "m.id, m.conversation_id, coalesce(m.parent_id, 0), m.role, m.content, m.state, m.finish_reason, " +
	"m.error_code, m.model, m.prompt_tokens, m.completion_tokens, m.created_at, m.updated_at, m.retry_at, m.request_id"

// scanMessage scans messageColumns into m, and the columns after them into
// more.
func scanMessage(row pgx.Row, m *hxchat.Message, more ...any) error {
	var role, state, code string
	var retryAt *time.Time
	if err := row.Scan(append([]any{&m.ID, &m.ConversationID, &m.ParentID, &role, &m.Content, &state, &m.FinishReason, &code, &m.Model,
		&m.Usage.PromptTokens, &m.Usage.CompletionTokens, &m.CreatedAt, &m.UpdatedAt, &retryAt, &m.RequestID}, more...)...); err != nil {
		return err
	}
	m.Role, m.State, m.ErrorCode = hxchat.Role(role), hxchat.State(state), hxchat.ErrorCode(code)
	m.CreatedAt, m.UpdatedAt, m.RetryAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC(), utc(retryAt)
	return nil
}

// Messages returns the messages of a conversation, every version of every
// branch, in the order of their ids, oldest first, and hxchat.ErrNotFound if
// there is no such conversation. It does not check who owns the
// conversation; call Conversation for that.
func (s *Store) Messages(ctx context.Context, conversationID string) ([]hxchat.Message, error) {
	rows, err := s.pool.Query(ctx,
		"SELECT "+messageColumns+" FROM messages m WHERE m.conversation_id = $1 ORDER BY m.id", text(conversationID))
	if err != nil {
		return nil, wrap("messages", err)
	}
	list := []hxchat.Message{}
	for rows.Next() {
		var m hxchat.Message
		if err := scanMessage(rows, &m); err != nil {
			rows.Close()
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
		if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM conversations WHERE id = $1)",
			text(conversationID)).Scan(&ok); err != nil {
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
	err := scanMessage(s.pool.QueryRow(ctx,
		"SELECT "+messageColumns+" FROM messages m WHERE m.id = $1 AND m.conversation_id = $2", id, text(conversationID)), &m)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := scanMessage(s.pool.QueryRow(ctx,
		"SELECT "+messageColumns+" FROM messages m JOIN conversations c ON c.id = m.conversation_id "+
			"WHERE m.id = $1 AND m.conversation_id = $2 AND c.session_id = $3", id, text(conversationID), text(sessionID)), &m)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, hxchat.ErrNotFound
	}
	if err != nil {
		return nil, wrap("message", err)
	}
	return &m, nil
}

// insertMessage inserts m into the conversation, after m.ParentID (none
// when 0), with its folded text, and returns its id. A streaming answer
// stored by a replica that has joined (see Join) holds that replica's lease.
func (s *Store) insertMessage(ctx context.Context, tx pgx.Tx, convID string, m *hxchat.Message, t time.Time) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, insertMessageSQL, s.insertMessageArgs(convID, m, t)...).Scan(&id)
	return id, err
}

// insertMessageSQL inserts a message: its conversation
// ($1), its parent ($2, none when 0) and the rest of insertMessage's
// arguments.
const insertMessageSQL = "INSERT INTO messages (" +
	"conversation_id, parent_id, role, content, content_folded, state, finish_reason, error_code, model, " +
	"prompt_tokens, completion_tokens, created_at, updated_at, replica_id" +
	") VALUES ($1, nullif($2, 0), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) RETURNING id"

// insertMessageArgs are the arguments of insertMessageSQL for m.
func (s *Store) insertMessageArgs(convID string, m *hxchat.Message, t time.Time) []any {
	content := text(m.Content)
	var replica *string
	if r := s.replica.Load(); r != nil && m.State == hxchat.StateStreaming {
		replica = &r.ID
	}
	return []any{convID, m.ParentID, string(m.Role), content, fold.String(content), string(m.State), text(m.FinishReason),
		string(m.ErrorCode), text(m.Model), m.Usage.PromptTokens, m.Usage.CompletionTokens, t, replica}
}

// startConversation stores a new conversation c with its first turn, the
// question u and the answer a (after u), and the session if it is new, in
// one round trip to the server: the statements go as one batch, which
// PostgreSQL runs as one implicit transaction (an error in any undoes
// them all). A conversation's first message is most of the messages
// that start answers, and under load each round trip of a request waits
// for its goroutine to be run again while it holds a connection of the
// pool: the transaction of six round trips this replaces starved the pool
// at a few hundred new conversations a second. It sets the ids of u and a.
func (s *Store) startConversation(ctx context.Context, c *hxchat.Conversation, u, a *hxchat.Message, t time.Time) error {
	b := &pgx.Batch{}
	b.Queue("INSERT INTO sessions (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", c.SessionID, t)
	b.Queue("INSERT INTO conversations "+
		"(id, session_id, title, title_folded, system_prompt, model, created_at, updated_at) "+
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
		c.ID, c.SessionID, c.Title, fold.String(c.Title), c.SystemPrompt, c.Model, t)
	b.Queue(insertMessageSQL, s.insertMessageArgs(c.ID, u, t)...)
	// The question's id is the server's to choose; the answer follows the
	// conversation's only question, and is its only answer. (Statements of
	// a batch see what those before them wrote.)
	a.ParentID = 0
	b.Queue(strings.Replace(insertMessageSQL, "nullif($2, 0)",
		"coalesce(nullif($2, 0), (SELECT id FROM messages WHERE conversation_id = $1 AND role = 'user'))", 1),
		s.insertMessageArgs(c.ID, a, t)...)
	b.Queue("UPDATE conversations SET current_id = (SELECT id FROM messages WHERE conversation_id = $1 AND role = 'assistant') "+
		"WHERE id = $1", c.ID)
	br := s.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&u.ID)
	}
	if err == nil {
		err = br.QueryRow().Scan(&a.ID)
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "23505" && pe.ConstraintName == "conversations_pkey" {
		return hxchat.Errorf(hxchat.EConflict, "The conversation exists already.")
	}
	if err != nil {
		return err
	}
	a.ParentID = u.ID
	return nil
}

// setCurrent makes message id the current one of conversation convID.
func setCurrent(ctx context.Context, tx pgx.Tx, convID string, id int64) error {
	_, err := tx.Exec(ctx, "UPDATE conversations SET current_id = $1 WHERE id = $2", id, convID)
	return err
}

// bumpConversation sets the conversation's updated_at to t, or one
// millisecond past its current value if that is not earlier, so that every
// turn moves it forward; it returns the stored row. Only the owner may. The
// row stays locked until the transaction ends: the writes of one
// conversation queue there, so its message ids increase in the order of
// writing.
func bumpConversation(ctx context.Context, tx pgx.Tx, c *hxchat.Conversation, sessionID, id string, t time.Time) error {
	return scanConversation(tx.QueryRow(ctx,
		"UPDATE conversations c SET updated_at = greatest($1, c.updated_at + interval '1 millisecond') "+
			"WHERE c.id = $2 AND c.session_id = $3 RETURNING "+conversationColumns,
		t, id, sessionID), c)
}

// nextTurnSQL stores a turn of a conversation that exists, in one statement
// (one round trip, one transaction, where it took seven): it locks the
// conversation ($1) of session $2, as every write to a conversation does
// first, so that message ids increase in the order of writing; takes the
// parent $4, or the stored current_id when $4 is 0 (read once the lock is
// held: the current one); inserts the question ($5, folded $6) and the
// answer ($7, folded $8, model $9, the lease of replica $10) after it, at
// time $3; and moves the conversation's updated_at forward with current_id
// on the answer (one UPDATE: a statement cannot update a row twice). It
// returns the conversation's row, the question's parent and id, and the
// answer's id; no row when the conversation is not the session's or $4 is
// not one of its messages. The current_id needs no check: it is always a
// message of its conversation (or 0), possibly one that a turn committed
// while this one waited for the lock, which the statement's snapshot would
// not show. $4 is checked against that snapshot, which holds it: the web
// layer read it before it sent the turn.
const nextTurnSQL = "WITH locked AS (" +
	"SELECT id, coalesce(nullif($4::bigint, 0), current_id) AS parent FROM conversations " +
	"WHERE id = $1 AND session_id = $2 FOR UPDATE), " +
	"parent AS (SELECT l.id, l.parent FROM locked l WHERE $4::bigint = 0 " +
	"OR EXISTS (SELECT 1 FROM messages m WHERE m.id = $4::bigint AND m.conversation_id = l.id)), " +
	"u AS (INSERT INTO messages (conversation_id, parent_id, role, content, content_folded, state, created_at, updated_at) " +
	"SELECT p.id, nullif(p.parent, 0), 'user', $5, $6, 'done', $3, $3 FROM parent p RETURNING id, conversation_id, parent_id), " +
	"a AS (INSERT INTO messages (conversation_id, parent_id, role, content, content_folded, state, model, created_at, updated_at, replica_id) " +
	"SELECT u.conversation_id, u.id, 'assistant', $7, $8, 'streaming', $9, $3, $3, $10::text FROM u RETURNING id, parent_id) " +
	"UPDATE conversations c SET updated_at = greatest($3, c.updated_at + interval '1 millisecond'), current_id = a.id " +
	"FROM a, u WHERE c.id = $1 RETURNING " + conversationColumns + ", coalesce(u.parent_id, 0), a.parent_id, a.id"

// StartTurn stores the user message and the streaming answer to it in one
// transaction, as sqlite.Store.StartTurn does. When conv.CreatedAt is zero
// it first creates the conversation (a new id from hxchat.NewID when
// conv.ID is empty, else the id must be new: EConflict; a title from
// hxchat.TitleFrom(user.Content) when conv.Title is empty; conv's
// SystemPrompt and Model), recording the session if it is not yet.
// Otherwise the conversation must exist and be owned by conv.SessionID
// (else hxchat.ErrNotFound) and its UpdatedAt moves forward; its other
// fields are the stored ones, whatever conv says. The user message then
// follows user.ParentID, which must be a message of the conversation (else
// hxchat.ErrNotFound), or the stored CurrentID when user.ParentID is 0.
//
// The answer becomes the conversation's CurrentID. On success conv, user and
// answer hold what was stored: ids, parents, conversation id, times. On
// error they are unchanged.
func (s *Store) StartTurn(ctx context.Context, conv *hxchat.Conversation, user, answer *hxchat.Message) error {
	if conv == nil || user == nil || answer == nil {
		return invalid("StartTurn needs a conversation, a user message and an answer.")
	}
	if conv.SessionID == "" {
		return invalid("The conversation has no session.")
	}
	t := now()
	u := hxchat.Message{Role: hxchat.RoleUser, Content: text(user.Content), State: hxchat.StateDone, CreatedAt: t, UpdatedAt: t}
	a := hxchat.Message{Role: hxchat.RoleAssistant, Content: text(answer.Content), State: hxchat.StateStreaming,
		Model: text(answer.Model), CreatedAt: t, UpdatedAt: t}

	var c hxchat.Conversation
	if conv.CreatedAt.IsZero() {
		c = hxchat.Conversation{ID: text(conv.ID), SessionID: text(conv.SessionID), Title: text(conv.Title),
			SystemPrompt: text(conv.SystemPrompt), Model: text(conv.Model), CreatedAt: t, UpdatedAt: t}
		if c.ID == "" {
			c.ID = hxchat.NewID()
		}
		if c.Title == "" {
			c.Title = hxchat.TitleFrom(u.Content)
		}
		if err := s.startConversation(ctx, &c, &u, &a, t); err != nil {
			return refusalOr("start turn", err)
		}
		c.CurrentID = a.ID
		u.ConversationID, a.ConversationID = c.ID, c.ID
		*conv, *user, *answer = c, u, a
		return nil
	}
	var replica *string
	if r := s.replica.Load(); r != nil {
		replica = &r.ID
	}
	uf, af := fold.String(u.Content), fold.String(a.Content)
	err := scanConversation(s.pool.QueryRow(ctx, nextTurnSQL, text(conv.ID), text(conv.SessionID), t, user.ParentID,
		u.Content, uf, a.Content, af, a.Model, replica), &c, &u.ParentID, &u.ID, &a.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = hxchat.ErrNotFound
	}
	a.ParentID = u.ID
	if err != nil {
		return refusalOr("start turn", err)
	}
	c.CurrentID = a.ID
	u.ConversationID, a.ConversationID = c.ID, c.ID
	*conv, *user, *answer = c, u, a
	return nil
}

// refusalOr returns err as it is when it is one of the Store's refusals (an
// *hxchat.Error), else wrapped with op.
func refusalOr(op string, err error) error {
	if _, ok := errors.AsType[*hxchat.Error](err); ok {
		return err
	}
	return wrap(op, err)
}

// RestartAnswer stores answer as a new version of the answer old: a new
// streaming message with a new, greater id, after the question old answers,
// in one transaction; old and every message after it stay. answer becomes
// the conversation's CurrentID, and the conversation's UpdatedAt moves
// forward. It goes by what is stored, not by old's fields: old.ID must be an
// assistant message (of old.ConversationID, when that is set; else
// hxchat.ErrNotFound) that is final (done, error, stopped or interrupted);
// else it returns an EConflict error and changes nothing. answer is stored
// like the answer of StartTurn and, on success, holds what was stored.
func (s *Store) RestartAnswer(ctx context.Context, old *hxchat.Message, answer *hxchat.Message) error {
	if old == nil || answer == nil {
		return invalid("RestartAnswer needs the old and the new answer.")
	}
	t := now()
	var a hxchat.Message
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The conversation's row is locked first, as every write to a
		// conversation does.
		var convID, sessionID, role, state string
		var parent int64
		err := tx.QueryRow(ctx,
			"SELECT m.conversation_id, c.session_id, m.role, m.state, coalesce(m.parent_id, 0) "+
				"FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1 FOR UPDATE OF c",
			old.ID).Scan(&convID, &sessionID, &role, &state, &parent)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && old.ConversationID != "" && old.ConversationID != convID) {
			return hxchat.ErrNotFound
		}
		if err != nil {
			return err
		}
		if hxchat.Role(role) != hxchat.RoleAssistant {
			return hxchat.Errorf(hxchat.EConflict, "Only an answer can be generated again.")
		}
		if !hxchat.State(state).Final() {
			return hxchat.Errorf(hxchat.EConflict, "This answer is still being written.")
		}
		var c hxchat.Conversation
		if err := bumpConversation(ctx, tx, &c, sessionID, convID, t); err != nil {
			return err
		}
		a = hxchat.Message{ConversationID: convID, ParentID: parent, Role: hxchat.RoleAssistant, Content: text(answer.Content),
			State: hxchat.StateStreaming, Model: text(answer.Model), CreatedAt: t, UpdatedAt: t}
		if a.ID, err = s.insertMessage(ctx, tx, convID, &a, t); err != nil {
			return err
		}
		return setCurrent(ctx, tx, convID, a.ID)
	})
	if err != nil {
		return refusalOr("restart answer", err)
	}
	*answer = a
	return nil
}

// EditTurn stores a new version of the user message user.ID with the text
// user.Content (after the same message as user.ID), and answer after it, as
// new messages with new, greater ids, in one transaction; the old version
// and every message after it stay. answer becomes the conversation's
// CurrentID, and the conversation's UpdatedAt moves forward. user.ID must be
// a user message of the conversation user.ConversationID, else it returns
// hxchat.ErrNotFound; no answer of that conversation may be streaming, else
// it returns an EConflict error. Either way nothing changes. It does not
// check who owns the conversation; call Conversation for that.
//
// On success user holds the new version and answer the answer, as stored;
// on error they are unchanged.
func (s *Store) EditTurn(ctx context.Context, user *hxchat.Message, answer *hxchat.Message) error {
	if user == nil || answer == nil {
		return invalid("EditTurn needs the user message and an answer.")
	}
	t := now()
	convID := text(user.ConversationID)
	var u, a hxchat.Message
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the conversation first: no turn can start in it until this
		// transaction ends, so no answer starts streaming after the check
		// below.
		var sessionID, role string
		var parent int64
		err := tx.QueryRow(ctx,
			"SELECT c.session_id, m.role, coalesce(m.parent_id, 0) FROM messages m JOIN conversations c ON c.id = m.conversation_id "+
				"WHERE m.id = $1 AND m.conversation_id = $2 FOR UPDATE OF c",
			user.ID, convID).Scan(&sessionID, &role, &parent)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && hxchat.Role(role) != hxchat.RoleUser) {
			return hxchat.ErrNotFound
		}
		if err != nil {
			return err
		}
		var streaming bool
		if err := tx.QueryRow(ctx,
			"SELECT EXISTS (SELECT 1 FROM messages WHERE conversation_id = $1 AND state = 'streaming')",
			convID).Scan(&streaming); err != nil {
			return err
		}
		if streaming {
			return hxchat.Errorf(hxchat.EConflict, "Wait for the answer to end, or stop it, before editing.")
		}
		var c hxchat.Conversation
		if err := bumpConversation(ctx, tx, &c, sessionID, convID, t); err != nil {
			return err
		}
		u = hxchat.Message{ConversationID: convID, ParentID: parent, Role: hxchat.RoleUser, Content: text(user.Content),
			State: hxchat.StateDone, CreatedAt: t, UpdatedAt: t}
		if u.ID, err = s.insertMessage(ctx, tx, convID, &u, t); err != nil {
			return err
		}
		a = hxchat.Message{ConversationID: convID, ParentID: u.ID, Role: hxchat.RoleAssistant, Content: text(answer.Content),
			State: hxchat.StateStreaming, Model: text(answer.Model), CreatedAt: t, UpdatedAt: t}
		if a.ID, err = s.insertMessage(ctx, tx, convID, &a, t); err != nil {
			return err
		}
		return setCurrent(ctx, tx, convID, a.ID)
	})
	if err != nil {
		return refusalOr("edit turn", err)
	}
	*user, *answer = u, a
	return nil
}

// SelectBranch makes message id the CurrentID of conversation convID, owned
// by sessionID: the branch shown ends there. A message that is not one of
// that conversation, or a conversation another session owns, is
// hxchat.ErrNotFound. UpdatedAt does not change: the list keeps its order.
func (s *Store) SelectBranch(ctx context.Context, sessionID, convID string, id int64) error {
	tag, err := s.pool.Exec(ctx,
		"UPDATE conversations SET current_id = $1 WHERE id = $2 AND session_id = $3 "+
			"AND EXISTS (SELECT 1 FROM messages WHERE id = $1 AND conversation_id = $2)",
		id, text(convID), text(sessionID))
	if err != nil {
		return wrap("select branch", err)
	}
	if tag.RowsAffected() == 0 {
		return hxchat.ErrNotFound
	}
	return nil
}

// MaxSystemPrompt is the longest system prompt, in bytes, that
// SetConversationOptions stores: 32 KiB.
const MaxSystemPrompt = 32 << 10

// SetConversationOptions stores the system prompt and model of conversation
// id, owned by sessionID, exactly as given (empty: none, the default model),
// and its ChangedAt. A system prompt longer than MaxSystemPrompt bytes is an
// ETooLarge error; a missing conversation, or one another session owns, is
// hxchat.ErrNotFound. Either way nothing changes. UpdatedAt does not change,
// so this does not reorder the list.
func (s *Store) SetConversationOptions(ctx context.Context, sessionID, id, systemPrompt, model string) error {
	if len(systemPrompt) > MaxSystemPrompt {
		return hxchat.Errorf(hxchat.ETooLarge, "The system prompt is too long (at most %d KiB).", MaxSystemPrompt>>10)
	}
	tag, err := s.pool.Exec(ctx,
		"UPDATE conversations SET system_prompt = $1, model = $2, changed_at = $3 WHERE id = $4 AND session_id = $5",
		text(systemPrompt), text(model), now(), text(id), text(sessionID))
	if err != nil {
		return wrap("set conversation options", err)
	}
	if tag.RowsAffected() == 0 {
		return hxchat.ErrNotFound
	}
	return nil
}

// Checkpoint saves content as the partial text of answer id while it is
// streaming. It does nothing to an answer that is no longer streaming, and
// returns hxchat.ErrNotFound when there is no message id.
func (s *Store) Checkpoint(ctx context.Context, id int64, content string) error {
	content = text(content)
	tag, err := s.pool.Exec(ctx,
		"UPDATE messages SET content = $1, content_folded = $2, updated_at = $3 WHERE id = $4 AND state = 'streaming'",
		content, fold.String(content), now(), id)
	if err != nil {
		return wrap("checkpoint", err)
	}
	if tag.RowsAffected() == 0 {
		return s.exists(ctx, "checkpoint", id)
	}
	return nil
}

// checkpointsSQL saves a batch of partial texts in one statement: the
// arrays $2 (ids), $3 (texts) and $4 (folded texts) are joined as rows.
// It takes no row that another transaction holds (SKIP LOCKED), and so
// never waits for one: a row held is one whose answer is ending (the ends
// of several answers are one statement, see finish.go), whose final text
// replaces any checkpoint, or one being edited or retried. An UPDATE that
// waited could deadlock with a group of ends: both lock many rows, in the
// order their joins visit them, which no ORDER BY fixes.
const checkpointsSQL = "WITH p AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[]) AS p (id, content, folded)), " +
	"free AS (SELECT m.id FROM messages m JOIN p ON p.id = m.id WHERE m.state = 'streaming' FOR UPDATE OF m SKIP LOCKED) " +
	"UPDATE messages m SET content = p.content, content_folded = p.folded, updated_at = $1 " +
	"FROM p JOIN free ON free.id = p.id WHERE m.id = p.id AND m.state = 'streaming'"

// Checkpoints implements hxchat.Store: one statement, one round trip, for
// all the answers.
func (s *Store) Checkpoints(ctx context.Context, parts []hxchat.Partial) error {
	if len(parts) == 0 {
		return nil
	}
	// An answer given twice gets its last text, as if saved in order.
	last := make(map[int64]string, len(parts))
	for _, p := range parts {
		last[p.ID] = p.Content
	}
	ids := slices.Sorted(maps.Keys(last))
	contents := make([]string, len(ids))
	folded := make([]string, len(ids))
	for i, id := range ids {
		contents[i] = text(last[id])
		folded[i] = fold.String(contents[i])
	}
	if _, err := s.pool.Exec(ctx, checkpointsSQL, now(), ids, contents, folded); err != nil {
		return wrap("checkpoints", err)
	}
	return nil
}

// exists returns nil if message id exists and hxchat.ErrNotFound if not.
func (s *Store) exists(ctx context.Context, op string, id int64) error {
	var ok bool
	// Not cancelled with the caller's context: the write it follows is done;
	// say why that changed nothing even if the caller has given up meanwhile.
	if err := s.pool.QueryRow(context.WithoutCancel(ctx), "SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1)", id).Scan(&ok); err != nil {
		return wrap(op, err)
	}
	if !ok {
		return hxchat.ErrNotFound
	}
	return nil
}

// FinishAnswer saves the final Content, State, FinishReason, ErrorCode, Usage,
// RetryAt, RequestID and Model of the streaming answer m.ID (an empty Model
// keeps the one stored by StartTurn). m.State must be final (done, error,
// stopped or interrupted), else it is an EInvalid error. It returns
// hxchat.ErrNotFound when there is no message m.ID, and an EConflict error,
// changing nothing, when the answer is no longer streaming. On success m
// holds the stored conversation id, role, model and times.
func (s *Store) FinishAnswer(ctx context.Context, m *hxchat.Message) error {
	if m == nil {
		return invalid("FinishAnswer needs an answer.")
	}
	switch m.State {
	case hxchat.StateDone, hxchat.StateError, hxchat.StateStopped, hxchat.StateInterrupted:
	default:
		return invalid("An answer cannot finish in state %q.", m.State)
	}
	return s.ends.finish(ctx, s, m)
}

// InterruptStreaming marks every answer still streaming as interrupted,
// keeping the text of its last checkpoint, and returns how many there were.
// Call it at start-up, before any generation of this store runs, only when
// no other replica shares the database: the answers of live replicas would
// be cut too. Replicas that share it join the cluster instead (Join), and
// TakeExpired takes only the answers of replicas that are gone.
func (s *Store) InterruptStreaming(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx,
		"UPDATE messages SET state = 'interrupted', updated_at = $1 WHERE state = 'streaming'", now())
	if err != nil {
		return 0, wrap("interrupt streaming", err)
	}
	return int(tag.RowsAffected()), nil
}
