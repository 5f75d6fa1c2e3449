-- The live bytes (key and value, as UTF-8) of the zone state under each apps/<name>/, kept
-- by triggers however the state changes (a local write, a merge, a checkpoint, a repair, a
-- rebuild): the app API's cap on an app's live state (lib/apps/state-quota.ts) reads a row
-- instead of summing every key, and `bucky app status` shows the figure. Every device
-- merges to the same state, so every device holds the same figures. Tombstones count 0.
CREATE TABLE app_state_bytes (
  app TEXT PRIMARY KEY NOT NULL,
  bytes INTEGER NOT NULL
);

INSERT INTO app_state_bytes (app, bytes)
  SELECT substr(key, 6, instr(substr(key, 6), '/') - 1),
         sum(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB)))
  FROM state
  WHERE key >= 'apps/' AND key < 'apps0' AND value IS NOT NULL AND instr(substr(key, 6), '/') > 1
  GROUP BY 1;

CREATE TRIGGER app_state_bytes_added AFTER INSERT ON state
WHEN NEW.value IS NOT NULL AND substr(NEW.key, 1, 5) = 'apps/' AND instr(substr(NEW.key, 6), '/') > 1
BEGIN
  INSERT INTO app_state_bytes (app, bytes)
    VALUES (substr(NEW.key, 6, instr(substr(NEW.key, 6), '/') - 1),
            length(CAST(NEW.key AS BLOB)) + length(CAST(NEW.value AS BLOB)))
    ON CONFLICT (app) DO UPDATE SET bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER app_state_bytes_removed AFTER DELETE ON state
WHEN OLD.value IS NOT NULL AND substr(OLD.key, 1, 5) = 'apps/' AND instr(substr(OLD.key, 6), '/') > 1
BEGIN
  UPDATE app_state_bytes
    SET bytes = bytes - (length(CAST(OLD.key AS BLOB)) + length(CAST(OLD.value AS BLOB)))
    WHERE app = substr(OLD.key, 6, instr(substr(OLD.key, 6), '/') - 1);
END;

-- An update is the old row removed and the new one added (the key never changes in place,
-- but both halves are written out so that no update could leave the figure wrong).
CREATE TRIGGER app_state_bytes_replaced AFTER UPDATE OF key, value ON state
WHEN OLD.value IS NOT NULL AND substr(OLD.key, 1, 5) = 'apps/' AND instr(substr(OLD.key, 6), '/') > 1
BEGIN
  UPDATE app_state_bytes
    SET bytes = bytes - (length(CAST(OLD.key AS BLOB)) + length(CAST(OLD.value AS BLOB)))
    WHERE app = substr(OLD.key, 6, instr(substr(OLD.key, 6), '/') - 1);
END;

CREATE TRIGGER app_state_bytes_replacing AFTER UPDATE OF key, value ON state
WHEN NEW.value IS NOT NULL AND substr(NEW.key, 1, 5) = 'apps/' AND instr(substr(NEW.key, 6), '/') > 1
BEGIN
  INSERT INTO app_state_bytes (app, bytes)
    VALUES (substr(NEW.key, 6, instr(substr(NEW.key, 6), '/') - 1),
            length(CAST(NEW.key AS BLOB)) + length(CAST(NEW.value AS BLOB)))
    ON CONFLICT (app) DO UPDATE SET bytes = bytes + excluded.bytes;
END;
