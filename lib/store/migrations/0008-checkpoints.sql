-- The checkpoint this device holds (protocol/checkpoint.ts): the zone state at a cut of
-- every feed that more than half of the zone's devices agreed on, so that the changesets
-- it supersedes could be dropped. One row; none until the first checkpoint.
CREATE TABLE checkpoint (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  -- The checkpoint body exactly as endorsed (its id is the SHA-256 of these bytes).
  body BLOB NOT NULL,
  -- The changesets that endorse it, as a CBOR array of their bytes: what is offered with it.
  endorsements BLOB NOT NULL,
  adopted_at INTEGER NOT NULL,
  -- XOR of the keyed macs of every row of checkpoint_base, and how many it has.
  base_digest BLOB NOT NULL,
  base_rows INTEGER NOT NULL,
  -- The keyed mac of this row's other columns (lib/state/seal.ts).
  mac BLOB NOT NULL
);

-- The checkpoint's rows that later writes replaced in `state`: with the state rows the
-- checkpoint covers, they are its whole state, which devices that join or come back
-- after a long absence fetch, and which a revoked device's later writes fall back to.
CREATE TABLE checkpoint_base (
  key TEXT PRIMARY KEY,
  value TEXT,
  hlc_ms INTEGER NOT NULL,
  hlc_counter INTEGER NOT NULL,
  author TEXT NOT NULL,
  seq INTEGER NOT NULL
) WITHOUT ROWID;
