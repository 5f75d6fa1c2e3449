-- Whether a device that joins with the invitation is given the zone's backup key, sealed
-- to it, in the answer to its join request (`bucky invite --no-backup-key` says no).
ALTER TABLE invites ADD COLUMN gives_backup_key INTEGER NOT NULL DEFAULT 1;
