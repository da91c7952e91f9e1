-- 0001: sessions, conversations and messages.
--
-- Times are UTC unix milliseconds. Tables are STRICT so that a value of the
-- wrong type is refused instead of stored.

CREATE TABLE sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE conversations (
    id         TEXT    NOT NULL PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    title      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- The sidebar: a session's conversations, most recently updated first.
CREATE INDEX conversations_session_updated ON conversations (session_id, updated_at);

-- AUTOINCREMENT: an id is never given twice, not even after RestartAnswer
-- deleted the newest message; the live hub and SSE event ids name answers by id.
CREATE TABLE messages (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id   TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role              TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
    content           TEXT    NOT NULL DEFAULT '',
    state             TEXT    NOT NULL,
    finish_reason     TEXT    NOT NULL DEFAULT '',
    error_code        TEXT    NOT NULL DEFAULT '',
    model             TEXT    NOT NULL DEFAULT '',
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

-- A conversation's messages in order, and its last message.
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);

-- The answers still streaming, for InterruptStreaming at start-up; tiny,
-- because almost every message is final.
CREATE INDEX messages_streaming ON messages (id) WHERE state = 'streaming';
