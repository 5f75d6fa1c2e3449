-- What AI agents did through this device, one row per tool call: for `bucky agent log`.
CREATE TABLE agent_audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  agent TEXT NOT NULL,
  tool TEXT NOT NULL,
  arguments TEXT NOT NULL,
  dry_run INTEGER NOT NULL,
  ok INTEGER NOT NULL,
  outcome TEXT NOT NULL
);

CREATE INDEX agent_audit_by_agent ON agent_audit (agent, at);
