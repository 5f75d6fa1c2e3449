-- Named data this device keeps because its owner stored it (`bucky put`), until `bucky rm`:
-- one of the roots that keep objects from being collected (lib/ndn/roots.ts).
CREATE TABLE ndn_pins (
  id TEXT PRIMARY KEY,
  -- What was stored (a file name), for the owner to recognize it.
  note TEXT NOT NULL,
  pinned_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Objects of the store nothing refers to, and since when: collected after a grace period.
CREATE TABLE ndn_unreferenced (
  id TEXT PRIMARY KEY,
  since INTEGER NOT NULL
) WITHOUT ROWID;

-- When collection first ran on this device (one row): objects stored before it, which
-- nothing counted yet, were pinned then as the owner's.
CREATE TABLE ndn_collection (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  started_at INTEGER NOT NULL
);
