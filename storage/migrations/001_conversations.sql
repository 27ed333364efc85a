-- Schema v1: conversations, their messages (a tree: edits and regenerations are siblings under one
-- parent), and key/value settings. Times are milliseconds since the Unix epoch (UTC).
CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY,
    uuid            TEXT    NOT NULL UNIQUE,          -- stable identity across export/import
    title           TEXT    NOT NULL DEFAULT '',
    model           TEXT    NOT NULL DEFAULT '',
    pinned          INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    archived        INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- The leaf of the branch the user last looked at; the shown thread is the path root -> leaf.
    current_leaf_id INTEGER REFERENCES messages(id) ON DELETE SET NULL
);
-- The sidebar's order: pinned first, then most recently active.
CREATE INDEX conversations_listing ON conversations(archived, pinned DESC, updated_at DESC, id DESC);
-- Without it every deleted message would scan conversations for the SET NULL action.
CREATE INDEX conversations_current_leaf ON conversations(current_leaf_id);

CREATE TABLE messages (
    id                   INTEGER PRIMARY KEY,
    conversation_id      INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    parent_id            INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    role                 TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content              TEXT    NOT NULL DEFAULT '',   -- the answer
    thinking             TEXT    NOT NULL DEFAULT '',   -- reasoning text (R1), kept apart from the answer
    model                TEXT    NOT NULL DEFAULT '',
    status               TEXT    NOT NULL DEFAULT 'complete'
                         CHECK (status IN ('streaming', 'complete', 'interrupted', 'error')),
    error                TEXT    NOT NULL DEFAULT '',
    temperature          REAL,
    top_p                REAL,
    top_k                INTEGER,
    max_tokens           INTEGER,
    seed                 INTEGER,
    repetition_penalty   REAL,
    prompt_tokens        INTEGER,
    completion_tokens    INTEGER,
    thinking_tokens      INTEGER,
    prefill_tokens_per_s REAL,
    decode_tokens_per_s  REAL,
    thinking_ms          INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    finished_at          INTEGER
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
CREATE INDEX messages_by_parent ON messages(parent_id, id);
-- Replies left 'streaming' by a crash are found at start-up without scanning every message.
CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming';

-- A branch must stay inside its conversation: the tree code relies on it.
CREATE TRIGGER messages_parent_same_conversation
BEFORE INSERT ON messages
WHEN new.parent_id IS NOT NULL
 AND (SELECT conversation_id FROM messages WHERE id = new.parent_id) IS NOT new.conversation_id
BEGIN
    SELECT RAISE(ABORT, 'parent message belongs to another conversation');
END;

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,                          -- JSON
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
