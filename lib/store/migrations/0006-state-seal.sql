-- The seal over the zone state at rest (protocol/state-seal.ts, lib/state/seal.ts): digests
-- of the `state` and `changesets` tables kept up to date by every write, under a key only
-- this device's key gives, so rows edited behind bucky's back are found. One row; a home
-- made before it has none until it is first opened, verified in full and sealed.
CREATE TABLE state_seal (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  -- XOR of the keyed macs of every row of `state`, and how many rows it has.
  state_digest BLOB NOT NULL,
  state_rows INTEGER NOT NULL,
  -- The same over `changesets`.
  changeset_digest BLOB NOT NULL,
  changeset_rows INTEGER NOT NULL,
  -- The mac of this device's latest changeset row (NULL before its first): the feed it
  -- signs on from, checked at every open so that it never signs a seq twice.
  own_head BLOB,
  -- When the state was last verified in full against its signed changesets (ms).
  verified_at INTEGER,
  -- What a check found altered, kept until the state is mended.
  damage TEXT,
  mac BLOB NOT NULL
);

-- Each invitation row carries the mac of its columns under the same key: an invitation
-- written into the database behind bucky's back (or one made before this) admits no one.
ALTER TABLE invites ADD COLUMN mac BLOB;
