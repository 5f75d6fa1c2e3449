-- The newest presence record (protocol/presence.ts) of each device: who is alive, kept
-- outside the changeset log so that heartbeats do not grow it.
CREATE TABLE presence (
  device TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  bytes BLOB NOT NULL
);
