/**
 * Creating a zone on this box (`bucky init`, and `bucky init --recover`).
 *
 * Crash safety: everything is built beside the final files and the zone is committed by
 * one rename, `state.db.partial` → `state.db`. A home without state.db has no zone, and
 * its leftovers are removed by the next init. The recovery phrase is shown only after the
 * commit, so leftovers never belong to a phrase the user has seen.
 */
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
} from "node:fs";
import {
  type DeviceDocument,
  signDeviceDocument,
  signZoneDocument,
  type ZoneDocument,
} from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import type { DeviceName, ZoneName } from "../../protocol/names.ts";
import { deriveOwnerSeed } from "../../protocol/phrase.ts";
import { stateKeys } from "../../protocol/state-key.ts";
import { fsyncDirectory } from "../atomic-file.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import { type HomePaths, homePaths } from "../home.ts";
import { writeKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openStateDb } from "../store/db.ts";
import { node } from "../store/schema.ts";
import { sqliteError } from "../store/sqlite-error.ts";
import { initLeftovers, inspectHome } from "./home-contents.ts";

/** Durable steps of `createZone`, reported as each one completes. */
export type InitStep = "home-ready" | "keys-written" | "database-built" | "committed";

export interface CreateZoneOptions {
  readonly home: string;
  readonly zoneName: ZoneName;
  readonly deviceName: DeviceName;
  /** The recovery phrase's entropy: fresh for a new zone, the user's to recover one. */
  readonly entropy: Uint8Array;
  readonly nowMs: number;
  readonly log: Log;
  readonly onStep?: (step: InitStep) => void;
}

export interface CreatedZone {
  readonly zone: ZoneDocument;
  readonly device: DeviceDocument;
}

export function createZone(options: CreateZoneOptions): CreatedZone {
  const paths = homePaths(options.home);
  const contents = inspectHome(paths);
  if (contents === "zone") {
    throw new BuckyError(
      "E_EXISTS",
      `${paths.home} already has a zone; nothing was changed`,
      `See it with \`bucky status --home ${paths.home}\`. To start another zone, use another --home.`,
    );
  }
  if (contents === "foreign") {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${paths.home} is not empty and is not a bucky home; nothing was changed`,
      "Choose an empty or new directory with --home (or BUCKY_HOME).",
    );
  }
  if (contents === "interrupted") {
    removeLeftovers(paths);
    options.log.warn("removed the leftovers of an interrupted init", { home: paths.home });
  }

  let created: CreatedZone;
  try {
    mkdirSync(paths.home, { recursive: true, mode: 0o700 });
    options.onStep?.("home-ready");
    created = stageZone(paths, options);
  } catch (error) {
    // Best effort: the error to report is the one that stopped init, not a cleanup's.
    try {
      removeLeftovers(paths);
      if (contents === "missing" && existsSync(paths.home)) rmSync(paths.home, { recursive: true });
    } catch (cleanupError) {
      options.log.warn("could not remove a partial home", {
        home: paths.home,
        error: String(cleanupError),
      });
    }
    throw (
      fileSystemError(error, "write to", paths.home) ??
      sqliteError(error, paths.stateDbStaging) ??
      error
    );
  }
  // The commit. From here on the zone exists, so nothing is cleaned up on failure.
  renameSync(paths.stateDbStaging, paths.stateDb);
  fsyncDirectory(paths.home);
  options.onStep?.("committed");
  options.log.attachFile(paths.logsDir);
  options.log.info("zone created", {
    zone: created.zone.id,
    name: created.zone.name,
    device: created.device.name,
  });
  return created;
}

/** Writes the keys and builds the database beside its final name. */
function stageZone(paths: HomePaths, options: CreateZoneOptions): CreatedZone {
  const ownerSeed = deriveOwnerSeed(options.entropy);
  const owner = signingKeyFromSeed(ownerSeed);
  const deviceSeed = new Uint8Array(randomBytes(32));
  const device = signingKeyFromSeed(deviceSeed);
  const issuedAt = Math.floor(options.nowMs / 1000);
  const zoneDocument = signZoneDocument({ name: options.zoneName, issuedAt }, owner);
  const deviceDocument = signDeviceDocument(
    { name: options.deviceName, devicePublicKey: device.publicKey, issuedAt },
    owner,
  );

  mkdirSync(paths.identityDir, { mode: 0o700 });
  chmodSync(paths.identityDir, 0o700);
  writeKeyFile(paths.ownerKey, "owner", ownerSeed);
  writeKeyFile(paths.deviceKey, "device", deviceSeed);
  options.onStep?.("keys-written");

  const db = openStateDb(paths.stateDbStaging, { create: true });
  try {
    db.insert(node)
      .values({
        id: 1,
        zoneId: zoneDocument.id,
        deviceId: deviceDocument.id,
        deviceName: options.deviceName,
      })
      .run();
    // The zone's first changeset: the documents every other device will verify it by.
    appendLocalChangeset(
      db,
      { zone: zoneDocument.id, name: options.deviceName, key: device },
      [
        { key: stateKeys.zoneDocument, value: JSON.stringify(zoneDocument.jws) },
        {
          key: stateKeys.deviceDocument(options.deviceName),
          value: JSON.stringify(deviceDocument.jws),
        },
      ],
      options.nowMs,
    );
  } finally {
    // Closing the last connection checkpoints the WAL into the file and removes it.
    db.$client.close(true);
  }
  fsyncFile(paths.stateDbStaging);
  options.onStep?.("database-built");
  return { zone: zoneDocument, device: deviceDocument };
}

function removeLeftovers(paths: HomePaths): void {
  for (const path of initLeftovers(paths)) {
    if (existsSync(path)) rmSync(path, { recursive: true });
  }
}

function fsyncFile(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
