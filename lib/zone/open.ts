/**
 * Opening a home's zone for use: checked as lib/zone/checked-zone.ts does (the documents,
 * the key files and the state's seal), with drizzle over the state database.
 */

import type { Log } from "../log.ts";
import type { StateDb } from "../store/db.ts";
import { stateDbOver } from "../store/db.ts";
import { type CheckedZone, type OpenOptions, openCheckedZone } from "./checked-zone.ts";

export interface OpenZone extends Omit<CheckedZone, "sqlite"> {
  readonly db: StateDb;
}

export function openZone(home: string, log: Log, options: OpenOptions = {}): OpenZone {
  const { sqlite, ...checked } = openCheckedZone(home, log, options);
  return { ...checked, db: stateDbOver(sqlite) };
}
