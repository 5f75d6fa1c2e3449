-- Which version of the rules that merge the zone state the state table was last worked out
-- under (lib/state/rules-upgrade.ts): a state made under older rules has the keys whose
-- rule changed worked out again, once, when it is first opened. One row; none until then.
CREATE TABLE state_rules (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);

-- A state made now, with no changeset yet, is worked out under these rules from its start:
-- only a state an older bucky made is worked out again (opening a new one writes nothing).
INSERT INTO state_rules (id, version) SELECT 1, 1 WHERE NOT EXISTS (SELECT 1 FROM changesets);
