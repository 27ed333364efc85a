-- Schema v4: full-text search over conversation titles and messages. The 'tessera' tokenizer (registered
-- by the storage library on every connection) is unicode61 for alphabetic scripts plus one token per
-- Chinese/Japanese character, so two-character Chinese words are found as phrases and ranked by bm25.
-- Both indexes are external-content tables kept in step by triggers; they store no second copy of the text.
-- Prefix indexes for 2-4 characters make search-as-you-type cheap: without them a prefix such as "mo" is
-- answered by merging the lists of every word that starts with it.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content, thinking, content = 'messages', content_rowid = 'id', tokenize = 'tessera', prefix = '2 3 4');
CREATE VIRTUAL TABLE conversations_fts USING fts5(
    title, content = 'conversations', content_rowid = 'id', tokenize = 'tessera', prefix = '2 3 4');
-- The answer weighs more than the reasoning that led to it. (SearchIndex ranks with tessera_rank, the
-- same formula with cheaper statistics; this default serves any other reader of the table.)
INSERT INTO messages_fts(messages_fts, rank) VALUES ('rank', 'bm25(1.0, 0.4)');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content, thinking) VALUES (new.id, new.content, new.thinking);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content, thinking)
    VALUES ('delete', old.id, old.content, old.thinking);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, thinking ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content, thinking)
    VALUES ('delete', old.id, old.content, old.thinking);
    INSERT INTO messages_fts(rowid, content, thinking) VALUES (new.id, new.content, new.thinking);
END;

CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.id, old.title);
END;
CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN
    INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.id, old.title);
    INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
END;

-- Index what older schemas already hold.
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
INSERT INTO conversations_fts(conversations_fts) VALUES ('rebuild');
