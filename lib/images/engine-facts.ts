/**
 * Which devices can run image apps, published in the zone state as `nodes/<device>/engine`
 * by each device's daemon once it has tried its container engine, so every device knows:
 * placement gives an image app only to a device that runs images of its platform
 * (lib/replica/zone-holding.ts), `bucky app install` refuses an image no device can run,
 * and `bucky status` shows which devices run images and why the others do not.
 */
import { checkAppName } from "../../protocol/names.ts";
import { type Platform, parsePlatformName, platformName, runsOn } from "../../protocol/oci.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import type { AppSpec } from "../apps/spec.ts";
import { saidBy } from "../facts/said-by.ts";
import type { StateQueries } from "../store/db.ts";
import { type StateReader, stateRowsMatching, stateValue } from "../store/reads.ts";
import { type Membership, standingOf } from "../sync/membership.ts";
import type { EngineSupport } from "./podman.ts";

export interface EngineFacts {
  /** The engine and its version, like "podman 4.3.1"; null when it cannot run images. */
  readonly engine: string | null;
  /** The platform its images must be built for, like "linux/amd64". */
  readonly platform: string | null;
  /** Why it cannot run images, when it cannot. */
  readonly problem: string | null;
}

export const engineFactsKey = (device: string) => `nodes/${device}/engine`;

export function engineFacts(support: EngineSupport): EngineFacts {
  if (!support.engine) return { engine: null, platform: null, problem: support.problem };
  return {
    engine: `podman ${support.engine.version}`,
    platform: platformName(support.engine.platform),
    problem: null,
  };
}

/** Every device's engine facts, by device name. */
export function readAllEngineFacts(db: StateReader): Map<string, EngineFacts> {
  const facts = new Map<string, EngineFacts>();
  for (const row of stateRowsMatching(db, "nodes/*/engine")) {
    const device = row.key.slice("nodes/".length, -"/engine".length);
    const value = row.value ? parseEngineFacts(row.value) : undefined;
    if (value && !device.includes("/")) facts.set(device, value);
  }
  return facts;
}

export function readEngineFacts(db: StateReader, device: string): EngineFacts | undefined {
  const value = stateValue(db, engineFactsKey(device));
  return value ? parseEngineFacts(value) : undefined;
}

/** The platform a device runs images of, when it runs them. */
export function imagePlatformOf(facts: EngineFacts | undefined): Platform | undefined {
  if (!facts?.engine || !facts.platform) return undefined;
  return parsePlatformName(facts.platform);
}

/**
 * Why a device that runs no images of a platform says it cannot (`bucky app install`'s
 * refusal): its reason is its words, quoted on one line, never the zone's advice.
 */
export function cannotRunImagesBecause(device: string, facts: EngineFacts | undefined): string {
  if (!facts) return `${device} has not said (its daemon is older, or has not started)`;
  return facts.problem !== null ? saidBy(device, facts.problem) : `${device} has not said why`;
}

/** Whether a device with these facts runs an image held for `platforms`. */
export function runsImageOf(facts: EngineFacts | undefined, platforms: readonly string[]): boolean {
  const machine = imagePlatformOf(facts);
  if (!machine) return false;
  return platforms.some((name) => {
    const platform = parsePlatformName(name);
    return platform !== undefined && runsOn(platform, machine);
  });
}

/** What `bucky status` says of each member that said what it can run of images. */
export function imageDevices(
  membership: Membership,
  facts: ReadonlyMap<string, EngineFacts>,
): { device: string; engine: string | null; platform: string | null; problem: string | null }[] {
  return [...membership.byId.values()]
    .filter((member) => standingOf(membership, member.id) === "member")
    .flatMap((member) => {
      const said = facts.get(member.name);
      return said ? [{ device: member.name as string, ...said }] : [];
    })
    .sort((a, b) => compareCodeUnits(a.device, b.device));
}

/**
 * An image app no member can run: the platforms the zone holds its image for, which no
 * device runs images of. Both are names, never a member's sentence: the platforms are
 * checked where the spec is read (lib/apps/spec.ts), the app's name where the note is made.
 */
export interface ImageNote {
  readonly app: string;
  readonly platforms: readonly string[];
}

/**
 * Image apps no member can run, for `bucky status` to warn of: of apps named as apps are
 * (any member writes specs, under any key; no app of another name was ever installed).
 */
export function imageNotes(
  membership: Membership,
  specs: readonly AppSpec[],
  facts: ReadonlyMap<string, EngineFacts>,
): ImageNote[] {
  const members = [...membership.byId.values()].filter(
    (member) => standingOf(membership, member.id) === "member",
  );
  return specs.flatMap((spec) => {
    if (!spec.image || spec.desired === "removed" || !checkAppName(spec.app).ok) return [];
    const platforms = spec.image.platforms;
    if (members.some((member) => runsImageOf(facts.get(member.name), platforms))) return [];
    return [{ app: spec.app, platforms }];
  });
}

/** What `bucky status` says of one, in the zone's words. */
export function describeImageNote({ app, platforms }: ImageNote): string {
  return `app ${app} runs a container image, and no device of the zone runs images for ${platforms.join(" or ")}: install Podman on one (\`apt-get install podman runc\`) and restart its daemon`;
}

/** Writes this device's facts when they changed. */
export function publishEngineFacts(
  write: (ops: { key: string; value: string }[]) => unknown,
  db: StateQueries,
  device: string,
  support: EngineSupport,
): void {
  const facts = engineFacts(support);
  const current = readEngineFacts(db, device);
  if (current && JSON.stringify(current) === JSON.stringify(facts)) return;
  write([{ key: engineFactsKey(device), value: JSON.stringify(facts) }]);
}

// What an engine looks like, as engineFacts says it: podman 4.3.1, podman 5.2.0-dev.
const ENGINE = /^podman [0-9A-Za-z.+~-]{1,40}$/;

/** Whether `text` is an engine as a device says it (`podman <version>`), not a sentence. */
export function isEngineName(text: string): boolean {
  return ENGINE.test(text);
}

/**
 * Facts as another device wrote them: anything not of their shape reads as "cannot". Its
 * engine and platform are read only when of their shape (`podman 4.3.1`, `linux/amd64`):
 * shown as written, a "platform" could be a sentence read as the zone's words; either one
 * not of its shape reads as no engine. Why it cannot is its words, shown quoted.
 */
export function parseEngineFacts(text: string): EngineFacts | undefined {
  try {
    const value = JSON.parse(text) as Partial<EngineFacts>;
    const string = (v: unknown) => (typeof v === "string" && v.length <= 500 ? v : null);
    const engine = string(value.engine);
    const platform = string(value.platform);
    const runs =
      engine !== null &&
      isEngineName(engine) &&
      platform !== null &&
      parsePlatformName(platform) !== undefined;
    return {
      engine: runs ? engine : null,
      platform: runs ? platform : null,
      problem: string(value.problem),
    };
  } catch {
    return undefined;
  }
}
