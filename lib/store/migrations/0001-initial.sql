-- The node's zone state. Changesets are the signed source of truth; `state` is what they
-- add up to (last writer wins per key); `node` holds this node's own facts.

CREATE TABLE node (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  zone_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  device_name TEXT NOT NULL,
  -- The latest hybrid logical clock this node has issued or seen.
  hlc_ms INTEGER NOT NULL DEFAULT 0,
  hlc_counter INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE changesets (
  author TEXT NOT NULL,
  seq INTEGER NOT NULL,
  -- SHA-256 of the signed body: the next changeset of this author names it as prev.
  hash BLOB NOT NULL,
  -- The entry exactly as signed and received: [body, signature] in CBOR.
  bytes BLOB NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (author, seq)
) WITHOUT ROWID;

CREATE TABLE state (
  key TEXT PRIMARY KEY,
  -- JSON text; NULL is a tombstone.
  value TEXT,
  hlc_ms INTEGER NOT NULL,
  hlc_counter INTEGER NOT NULL,
  author TEXT NOT NULL,
  seq INTEGER NOT NULL
) WITHOUT ROWID;
