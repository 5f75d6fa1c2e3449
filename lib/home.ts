/**
 * The layout of a node's home directory. Several homes on one box are several isolated
 * nodes; that is how tests and the multi-device lab run.
 *
 *   <home>/identity/owner.key     the owner's signing key (only on devices that hold it)
 *   <home>/identity/device.key    this device's key; never leaves the device
 *   <home>/identity/backup.key    the root of the backup keys (from the recovery phrase, like the owner key)
 *   <home>/backup/                backup targets, the last results, and a cache of what was backed up
 *   <home>/state.db               the zone state (SQLite, WAL)
 *   <home>/join.pending           while `bucky join` has not finished: the key it asked to be
 *                                 admitted with, so that running it again resumes
 *   <home>/logs/bucky.log         JSON-lines log, rotated
 *   <home>/daemon.sock            the running daemon's local API (mode 0600: file access is the auth)
 *   <home>/peer.sock              its peer API over HTTP, for the relay's own streams (mode 0600)
 *   <home>/daemon.json            the running daemon's pid and addresses
 *   <home>/ndn/                   named data: chunks and chunk lists by hash
 *   <home>/apps/<app>/            each app's data, packages and output on this device
 *   <home>/images/                which named data holds each image blob, and blobs on their way in
 *   <home>/containers/            the container engine's storage (images unpacked, containers)
 *   <home>/uploads/               app archives being unpacked as they are installed; emptied when the daemon starts
 *
 * `state.db` is written last by `bucky init`: its presence is what makes a home a zone.
 */
import { join } from "node:path";

export interface HomePaths {
  readonly home: string;
  readonly identityDir: string;
  readonly ownerKey: string;
  readonly deviceKey: string;
  readonly backupKey: string;
  readonly backupDir: string;
  /**
   * Key epochs' roots this device opened with the recovery phrase (lib/backup/key-epochs.ts),
   * `<name>.key`: epochs not sealed to it. Outside identity/, so no snapshot holds them.
   */
  readonly backupEpochKeysDir: string;
  readonly stateDb: string;
  /** Where `bucky init` builds the database before renaming it into place. */
  readonly stateDbStaging: string;
  /** The key a `bucky join` not yet finished asked with (lib/zone/pending-join.ts). */
  readonly joinPending: string;
  readonly logsDir: string;
  readonly daemonSocket: string;
  /** The peer API over HTTP, where a relay's own streams end (lib/relay/tunnel.ts). */
  readonly peerSocket: string;
  readonly daemonInfo: string;
  readonly ndnDir: string;
  readonly appsDir: string;
  readonly imagesDir: string;
  readonly containersDir: string;
  readonly uploadsDir: string;
}

export function homePaths(home: string): HomePaths {
  const identityDir = join(home, "identity");
  return {
    home,
    identityDir,
    ownerKey: join(identityDir, "owner.key"),
    deviceKey: join(identityDir, "device.key"),
    backupKey: join(identityDir, "backup.key"),
    backupDir: join(home, "backup"),
    backupEpochKeysDir: join(home, "backup", "epoch-keys"),
    stateDb: join(home, "state.db"),
    stateDbStaging: join(home, "state.db.partial"),
    joinPending: join(home, "join.pending"),
    logsDir: join(home, "logs"),
    daemonSocket: join(home, "daemon.sock"),
    peerSocket: join(home, "peer.sock"),
    daemonInfo: join(home, "daemon.json"),
    ndnDir: join(home, "ndn"),
    appsDir: join(home, "apps"),
    imagesDir: join(home, "images"),
    containersDir: join(home, "containers"),
    uploadsDir: join(home, "uploads"),
  };
}
