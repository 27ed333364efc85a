-- Schema v2: attachments. The bytes live in content-addressed files under the data folder
-- (attachments/<2 hex>/<sha256>.<ext>); the database holds the relative path and the hash, so the same
-- image sent twice is stored once.
CREATE TABLE attachments (
    id         INTEGER PRIMARY KEY,
    sha256     TEXT    NOT NULL UNIQUE CHECK (length(sha256) = 64),
    path       TEXT    NOT NULL,
    mime       TEXT    NOT NULL DEFAULT 'application/octet-stream',
    size       INTEGER NOT NULL CHECK (size >= 0),
    width      INTEGER NOT NULL DEFAULT 0,
    height     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE message_attachments (
    message_id    INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    -- RESTRICT: an attachment row goes only through garbage collection, once nothing refers to it.
    attachment_id INTEGER NOT NULL REFERENCES attachments(id) ON DELETE RESTRICT,
    name          TEXT    NOT NULL DEFAULT '',           -- the file name the user attached
    PRIMARY KEY (message_id, position)
) WITHOUT ROWID;
CREATE INDEX message_attachments_by_attachment ON message_attachments(attachment_id);
