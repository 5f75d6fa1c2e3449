-- The newest presence record (protocol/presence.ts) of each device: who is alive, kept
-- outside the changeset log so that heartbeats do not grow it. `at` is the device's own
-- clock (which record is newer); `heard_at` is this node's, when a newer one arrived
-- (whether the device is alive, whatever the clocks of the two say).
CREATE TABLE presence (
  device TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  heard_at INTEGER NOT NULL,
  bytes BLOB NOT NULL
);
