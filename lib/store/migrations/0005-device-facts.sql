-- The newest device facts record (protocol/device-facts.ts) of each device: its backups,
-- the app data it holds, its standbys' lag, its disk. Kept outside the changeset log
-- (they change too often to keep forever); the last word of a device that is gone stays.
-- `at` is the device's own clock (which record is newer); `heard_at` this node's.
CREATE TABLE device_facts (
  device TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  heard_at INTEGER NOT NULL,
  bytes BLOB NOT NULL
);
