-- Schema v3: visual grounding results per message, and the image generation gallery.
CREATE TABLE grounding (
    id            INTEGER PRIMARY KEY,
    message_id    INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    attachment_id INTEGER REFERENCES attachments(id) ON DELETE RESTRICT,   -- the image the box is on
    position      INTEGER NOT NULL,
    phrase        TEXT    NOT NULL,
    -- The box as the model wrote it: integers in 0..999 relative to the image.
    x0 INTEGER NOT NULL CHECK (x0 BETWEEN 0 AND 999),
    y0 INTEGER NOT NULL CHECK (y0 BETWEEN 0 AND 999),
    x1 INTEGER NOT NULL CHECK (x1 BETWEEN 0 AND 999),
    y1 INTEGER NOT NULL CHECK (y1 BETWEEN 0 AND 999),
    -- The same box in the image's pixels, as drawn.
    px0 REAL NOT NULL,
    py0 REAL NOT NULL,
    px1 REAL NOT NULL,
    py1 REAL NOT NULL
);
CREATE INDEX grounding_by_message ON grounding(message_id, position);
CREATE INDEX grounding_by_attachment ON grounding(attachment_id);

CREATE TABLE generated_images (
    id            INTEGER PRIMARY KEY,
    uuid          TEXT    NOT NULL UNIQUE,
    prompt        TEXT    NOT NULL,
    seed          INTEGER NOT NULL,
    cfg_weight    REAL    NOT NULL,
    temperature   REAL    NOT NULL,
    model         TEXT    NOT NULL DEFAULT '',
    attachment_id INTEGER NOT NULL REFERENCES attachments(id) ON DELETE RESTRICT,
    batch_index   INTEGER NOT NULL DEFAULT 0,           -- position within one Generate click
    created_at    INTEGER NOT NULL
);
CREATE INDEX generated_images_recent ON generated_images(created_at DESC, id DESC);
CREATE INDEX generated_images_by_attachment ON generated_images(attachment_id);
