-- The node's zone state. Changesets are the signed source of truth; `state` is what they
-- add up to (last writer wins per key); the other tables are this node's own records.

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
  -- The order this node applied changesets in: peers are sent them in this order, so a
  -- device's membership always arrives before its writes.
  local_order INTEGER PRIMARY KEY AUTOINCREMENT,
  author TEXT NOT NULL,
  seq INTEGER NOT NULL,
  -- SHA-256 of the signed body: the next changeset of this author names it as prev.
  hash BLOB NOT NULL,
  -- The entry exactly as signed and received: [body, signature] in CBOR.
  bytes BLOB NOT NULL,
  received_at INTEGER NOT NULL,
  UNIQUE (author, seq)
);

CREATE TABLE state (
  key TEXT PRIMARY KEY,
  -- JSON text; NULL is a tombstone.
  value TEXT,
  hlc_ms INTEGER NOT NULL,
  hlc_counter INTEGER NOT NULL,
  author TEXT NOT NULL,
  seq INTEGER NOT NULL
) WITHOUT ROWID;

-- When this node last heard from each peer, and the address it last reached it at
-- (NULL when it has only been called by it).
CREATE TABLE peers (
  device_id TEXT PRIMARY KEY,
  address TEXT,
  last_seen_at INTEGER NOT NULL,
  rtt_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Invitations this device issued. Only a hash of each secret is kept.
CREATE TABLE invites (
  id TEXT PRIMARY KEY,
  secret_hash BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  uses_left INTEGER NOT NULL,
  revoked_at INTEGER
) WITHOUT ROWID;

-- Devices caught signing two different changesets with the same seq, with the proof.
CREATE TABLE quarantine (
  device_id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  detected_at INTEGER NOT NULL,
  kept BLOB NOT NULL,
  conflicting BLOB NOT NULL
) WITHOUT ROWID;
