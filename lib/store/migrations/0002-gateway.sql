-- What this device's gateway counted, per app, client address and minute. Written a few
-- seconds at a time, never per request.
CREATE TABLE traffic (
  app TEXT NOT NULL,
  client TEXT NOT NULL,
  minute INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  PRIMARY KEY (app, client, minute)
) WITHOUT ROWID;

CREATE INDEX traffic_by_minute ON traffic (minute);

-- Login links this gateway accepted: each works once, until it expires.
CREATE TABLE used_logins (
  nonce TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
