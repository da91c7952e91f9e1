-- 0001: sessions, conversations and messages: the schema of sqlite/ after
-- its migration 0005, in PostgreSQL's types, with a folded copy of the text
-- that search reads.
--
-- Times are timestamptz, written by the store in whole milliseconds (UTC).
-- A time that is "never" (changed_at, retry_at) is NULL.

CREATE TABLE sessions (
    id         text        NOT NULL PRIMARY KEY,
    created_at timestamptz NOT NULL
);

CREATE TABLE conversations (
    id            text        NOT NULL PRIMARY KEY,
    -- The order of creation: of two conversations updated in the same
    -- millisecond, the later one comes first in the list (SQLite's rowid).
    seq           bigint      NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    session_id    text        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    title         text        NOT NULL DEFAULT '',
    -- title as package fold folds it, written by the store with title.
    title_folded  text        NOT NULL DEFAULT '',
    system_prompt text        NOT NULL DEFAULT '',
    model         text        NOT NULL DEFAULT '',
    -- The last message of the branch shown; 0 before the first message.
    current_id    bigint      NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    changed_at    timestamptz
);

-- The sidebar: a session's conversations, most recently updated first.
CREATE INDEX conversations_session_updated ON conversations (session_id, updated_at DESC, seq DESC);

-- Identity ids come from a sequence: increasing, never given twice, also
-- after a delete; the live hub and SSE event ids name answers by id.
CREATE TABLE messages (
    id                bigint      NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id   text        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- The message this one follows; NULL for a first question.
    parent_id         bigint      REFERENCES messages (id) ON DELETE CASCADE,
    role              text        NOT NULL CHECK (role IN ('user', 'assistant')),
    content           text        NOT NULL DEFAULT '',
    -- content as package fold folds it, written by the store with content.
    content_folded    text        NOT NULL DEFAULT '',
    state             text        NOT NULL,
    finish_reason     text        NOT NULL DEFAULT '',
    error_code        text        NOT NULL DEFAULT '',
    model             text        NOT NULL DEFAULT '',
    prompt_tokens     bigint      NOT NULL DEFAULT 0,
    completion_tokens bigint      NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    retry_at          timestamptz,
    request_id        text        NOT NULL DEFAULT ''
);

-- A conversation's messages in order.
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);

-- A message's replies, for the cascade of parent_id.
CREATE INDEX messages_parent ON messages (parent_id);

-- The answers still streaming, for InterruptStreaming and EditTurn; tiny,
-- because almost every message is final.
CREATE INDEX messages_streaming ON messages (conversation_id) WHERE state = 'streaming';

-- Search: a trigram index on the folded text of messages, so that LIKE
-- '%query%' of three characters or more need not read every message.
-- (Titles are short and read by session; they need none.) Answers that are
-- streaming stay out of it: checkpoints rewrite their text every second,
-- and indexing each version cost four times the rest of a checkpoint
-- (BenchmarkCheckpoints: 500 against 120 µs an answer); search finds them
-- through messages_streaming. pg_trgm ships with
-- PostgreSQL and is a trusted extension (13 and later): the owner of the
-- database may create it. Where it cannot be created, search works without
-- this index, reading the session's messages.
DO $$
DECLARE
    ext_schema text;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'hxchat: pg_trgm is not available (%): search works without its index', SQLERRM;
    END;
    SELECT extnamespace::regnamespace::text INTO ext_schema FROM pg_extension WHERE extname = 'pg_trgm';
    IF ext_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX messages_content_trgm ON messages USING gin (content_folded %s.gin_trgm_ops) '
            'WHERE state <> ''streaming''', ext_schema);
    END IF;
END
$$;
