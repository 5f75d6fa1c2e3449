/**
 * What each device can do to isolate apps, published in the zone state as
 * `nodes/<device>/sandbox` by its daemon, so that every device knows: `bucky app install`
 * refuses to place an app where it would run unsandboxed (unless the owner says
 * --unsandboxed), and `bucky status` warns about such devices and apps.
 */
import { saidBy } from "../facts/said-by.ts";
import type { StateQueries } from "../store/db.ts";
import { type StateReader, stateRowsMatching, stateValue } from "../store/reads.ts";
import { type Membership, standingOf } from "../sync/membership.ts";
import type { SandboxSupport } from "./sandbox.ts";
import { type AppSpec, readReport } from "./spec.ts";

export interface SandboxFacts {
  /** Apps run in bubblewrap here. */
  readonly sandbox: boolean;
  /** An app that asks for outbound network gets it, sandboxed. */
  readonly outbound: boolean;
  /** Each app runs as a user of its own (bucky runs as root). */
  readonly ownUsers: boolean;
  /** Why apps cannot be sandboxed here, when they cannot. */
  readonly problem: string | null;
}

export const sandboxFactsKey = (device: string) => `nodes/${device}/sandbox`;

export function sandboxFacts(support: SandboxSupport): SandboxFacts {
  const sandbox = support.bwrap !== undefined;
  return {
    sandbox,
    outbound: sandbox && support.slirp4netns !== undefined,
    ownUsers: sandbox && support.asRoot,
    problem: sandbox ? null : (support.problem ?? "bubblewrap is not usable"),
  };
}

export function readSandboxFacts(db: StateReader, device: string): SandboxFacts | undefined {
  const value = stateValue(db, sandboxFactsKey(device));
  return value ? parseSandboxFacts(value) : undefined;
}

/** What each device said it can do to isolate apps, by name (each record of its shape). */
export function readAllSandboxFacts(db: StateReader): Map<string, SandboxFacts> {
  const all = new Map<string, SandboxFacts>();
  for (const { key, value } of stateRowsMatching(db, "nodes/*/sandbox")) {
    // The pattern matches keys of more segments too (nodes/a/x/sandbox).
    const [, device, ...rest] = key.split("/");
    const facts = rest.length === 1 && device && value ? parseSandboxFacts(value) : undefined;
    if (facts) all.set(device as string, facts);
  }
  return all;
}

/**
 * A device's record as it wrote it, or undefined (not said) when it is not of its shape: a
 * member writes it as it likes, and a record that is not JSON made every install and
 * `bucky status` that read it fail.
 */
export function parseSandboxFacts(text: string): SandboxFacts | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { sandbox, outbound, ownUsers, problem } = value as Record<string, unknown>;
  if (typeof sandbox !== "boolean") return undefined;
  if (problem !== null && (typeof problem !== "string" || problem.length > 500)) return undefined;
  // What it does not say it can do, it cannot.
  return { sandbox, outbound: outbound === true, ownUsers: ownUsers === true, problem };
}

/**
 * Why a device with `facts` would leave an app (that wants outbound network or not)
 * unsandboxed, if it would: `laptop (…)`, its own reason said to be its words, quoted.
 */
export function unsandboxedBecause(
  device: string,
  facts: SandboxFacts,
  outbound: boolean,
): string | undefined {
  if (!facts.sandbox)
    return `${device} (${facts.problem !== null ? saidBy(device, facts.problem) : "it cannot sandbox apps"})`;
  if (outbound && !facts.outbound)
    return `${device} (slirp4netns is not installed there, for outbound network)`;
  return undefined;
}

/**
 * The devices an app placed on `placement` could run on that would run it unsandboxed,
 * each with why (`laptop (…)`). A device that has not said (an older version) is not counted: it
 * refuses to run the app unsandboxed itself, saying so in the app's status.
 */
export function devicesWithoutSandbox(
  db: StateQueries,
  membership: Membership,
  placement: string,
  outbound: boolean,
): string[] {
  const devices =
    placement === "any"
      ? [...membership.byId.values()]
          .filter((member) => standingOf(membership, member.id) === "member")
          .map((member) => member.name as string)
      : [placement];
  return devices.flatMap((device) => {
    const facts = readSandboxFacts(db, device);
    const why = facts ? unsandboxedBecause(device, facts, outbound) : undefined;
    return why ? [why] : [];
  });
}

/** A device that cannot sandbox apps, or an app running without a sandbox, as data. */
export type SandboxNote =
  | { readonly kind: "device-unsandboxed"; readonly device: string; readonly problem: string }
  | { readonly kind: "app-unsandboxed"; readonly app: string; readonly device: string };

/** What `bucky status` warns of: devices that cannot sandbox apps, and apps that run without. */
export function sandboxNotes(
  db: StateReader,
  membership: Membership,
  specs: readonly AppSpec[],
): SandboxNote[] {
  const notes: SandboxNote[] = [];
  const members = [...membership.byId.values()].filter(
    (member) => standingOf(membership, member.id) === "member",
  );
  for (const member of members) {
    const facts = readSandboxFacts(db, member.name);
    if (facts && !facts.sandbox)
      notes.push({
        kind: "device-unsandboxed",
        device: member.name,
        problem: facts.problem ?? "bubblewrap is not usable",
      });
  }
  for (const spec of specs) {
    if (spec.desired !== "running") continue;
    for (const member of members) {
      const report = readReport(db, member.name, spec.app);
      const up =
        report?.state === "starting" ||
        report?.state === "running" ||
        report?.state === "unhealthy";
      if (up && report?.package === spec.package && !report.sandboxed)
        notes.push({ kind: "app-unsandboxed", app: spec.app, device: member.name });
    }
  }
  return notes;
}

/** A note in English: why a device cannot is its words (its record), quoted on one line. */
export function describeSandboxNote(note: SandboxNote): string {
  return note.kind === "device-unsandboxed"
    ? `${note.device} cannot sandbox apps, ${saidBy(note.device, note.problem)}: install bubblewrap there and restart its daemon`
    : `app ${note.app} runs on ${note.device} without a sandbox`;
}

/** Writes this device's facts when they changed. */
export function publishSandboxFacts(
  write: (ops: { key: string; value: string }[]) => unknown,
  db: StateQueries,
  device: string,
  support: SandboxSupport,
): void {
  const facts = sandboxFacts(support);
  const current = readSandboxFacts(db, device);
  if (current && JSON.stringify(current) === JSON.stringify(facts)) return;
  write([{ key: sandboxFactsKey(device), value: JSON.stringify(facts) }]);
}
