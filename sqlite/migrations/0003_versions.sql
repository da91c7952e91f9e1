-- 0003: versions of messages. A message follows its parent (the question
-- an answer answers, the answer a question follows); messages with the same
-- parent are versions of one another: an edited question, a regenerated
-- answer. A conversation remembers the last message of the branch shown.
--
-- Every existing conversation becomes one branch: each message follows the
-- one before it, and the branch shown ends at its last message. A first
-- question has no parent (NULL). Deleting a conversation deletes its
-- messages (ON DELETE CASCADE); the parent's own cascade is for
-- completeness: no message is deleted alone.

ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages (id) ON DELETE CASCADE;

UPDATE messages SET parent_id = (
    SELECT max(p.id) FROM messages p
    WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id
);

-- A message's replies: what the foreign key looks up when messages go
-- (with their conversation), so that a delete does not scan the table.
CREATE INDEX messages_parent ON messages (parent_id);

-- 0: no message yet.
ALTER TABLE conversations ADD COLUMN current_id INTEGER NOT NULL DEFAULT 0;

UPDATE conversations SET current_id = coalesce(
    (SELECT max(m.id) FROM messages m WHERE m.conversation_id = conversations.id), 0);
