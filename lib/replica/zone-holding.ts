/**
 * Where each app runs and whose copy of its data counts, from what the zone knows: the
 * specs, the holder claims, the devices being drained, and the copies each device said it
 * has (its device facts). Status, the gateway and the convergence loop all ask here, so
 * they agree. An app with no data has nothing to hold: it runs where placement says. An
 * image app runs, and its data is kept, only on devices that run images of its platform.
 */
import { DEFAULT_STANDBYS } from "../../protocol/app-manifest.ts";
import type { DeviceFacts } from "../../protocol/device-facts.ts";
import { checkDeviceName } from "../../protocol/names.ts";
import { type Candidate, placeApp } from "../../protocol/placement.ts";
import {
  readAllSandboxFacts,
  type SandboxFacts,
  unsandboxedBecause,
} from "../apps/sandbox-facts.ts";
import type { AppSpec } from "../apps/spec.ts";
import type { ReplicaFacts } from "../facts/payload.ts";
import { readPayload } from "../facts/payload.ts";
import { type EngineFacts, readAllEngineFacts, runsImageOf } from "../images/engine-facts.ts";
import { type StateReader, stateRowsMatching } from "../store/reads.ts";
import { heldFacts } from "../sync/facts.ts";
import type { Membership } from "../sync/membership.ts";
import { type HolderClaim, readClaims } from "./claims.ts";
import { type CopyPosition, decideHolding, type Holding } from "./holding.ts";

export const drainKey = (device: string) => `system/drain/${device}`;

/** What the zone knows that decides holdings, read once for all apps. */
export interface HoldingFacts {
  readonly claims: ReadonlyMap<string, readonly HolderClaim[]>;
  readonly draining: ReadonlySet<string>;
  /** Per app, each device's copy as it said it. */
  readonly copies: ReadonlyMap<string, ReadonlyMap<string, CopyPosition>>;
  /** What each device said it can run of images. */
  readonly engines: ReadonlyMap<string, EngineFacts>;
  /** What each device said it can do to isolate apps (absent: not weighed). */
  readonly sandboxes?: ReadonlyMap<string, SandboxFacts>;
}

/**
 * `held` and `engines`: the device facts and engine facts, when the caller read them
 * already (bucky status reads each once for everything it says).
 */
export function readHoldingFacts(
  db: StateReader,
  membership: Membership,
  held: readonly DeviceFacts[] = heldFacts(db),
  engines: ReadonlyMap<string, EngineFacts> = readAllEngineFacts(db),
): HoldingFacts {
  const copies = new Map<string, Map<string, CopyPosition>>();
  for (const record of held) {
    const member = membership.byId.get(record.device);
    const replicas: ReplicaFacts | undefined = readPayload(record.facts).replicas;
    if (!member || !replicas) continue;
    for (const [app, copy] of Object.entries(replicas.copies)) {
      // A copy its device found damaged is none to take over from, until fetched again.
      if ((copy.damagedBlobs ?? 0) > 0) continue;
      const byDevice = copies.get(app) ?? new Map<string, CopyPosition>();
      byDevice.set(member.name, {
        holder: copy.holder,
        epoch: copy.epoch,
        seq: copy.seq,
        final: copy.final,
      });
      copies.set(app, byDevice);
    }
  }
  return {
    claims: readClaims(db, membership),
    draining: readDraining(db),
    copies,
    engines,
    sandboxes: readAllSandboxFacts(db),
  };
}

/**
 * Devices being drained (`bucky devices drain`): by device names alone (any member writes
 * under system/drain/, and the pattern matches system/drain/a/b too).
 */
export function readDraining(db: StateReader): Set<string> {
  return new Set(
    stateRowsMatching(db, "system/drain/*")
      .filter((row) => row.value !== null)
      .map((row) => row.key.slice("system/drain/".length))
      .filter((device) => checkDeviceName(device).ok),
  );
}

export function appHasData(spec: AppSpec): boolean {
  return spec.manifest.data.length > 0;
}

/**
 * The holding of one app. `ownCopy`, when given, is the asking device's own copy as it
 * knows it now (fresher than what it last said).
 */
export function holdingOf(
  spec: AppSpec,
  candidates: { readonly members: readonly Candidate[]; readonly live: readonly Candidate[] },
  facts: HoldingFacts,
  own?: { readonly device: string; readonly copy: CopyPosition | undefined },
): Holding {
  if (spec.image) {
    const platforms = spec.image.platforms;
    const able = (c: Candidate) => runsImageOf(facts.engines.get(c.name), platforms);
    const members = candidates.members.filter(able);
    const { image: _, ...plain } = spec;
    // Run by Podman, not bubblewrap: whether a device sandboxes processes is not weighed.
    const holding = holdingOf(
      plain,
      { members, live: candidates.live.filter(able) },
      { ...facts, sandboxes: undefined },
      own,
    );
    if (holding.runner || members.length > 0) return holding;
    // Said as the app's problem on the panel's Apps page and the app's own (the zone's
    // words): so no command to type (`bucky status` warns with the command: ImageNote).
    return {
      ...holding,
      waiting: `no device of the zone runs images for ${platforms.join(" or ")}: install Podman (with runc) on one, then restart bucky there`,
    };
  }
  if (facts.sandboxes && !spec.unsandboxed) {
    // A process app runs only where it is sandboxed (unless the owner said otherwise): a
    // device that says it cannot would refuse it, and it ran nowhere, its data taken over
    // there and kept from every device that could. One that has not said is not counted
    // out (an older bucky): it refuses by itself, saying so.
    const outbound = spec.manifest.network === "outbound";
    const able = (c: Candidate) => {
      const said = facts.sandboxes?.get(c.name);
      return said === undefined || unsandboxedBecause(c.name, said, outbound) === undefined;
    };
    const members = candidates.members.filter(able);
    const holding = holdingOf(
      spec,
      { members, live: candidates.live.filter(able) },
      { ...facts, sandboxes: undefined },
      own,
    );
    if (holding.runner || members.length > 0 || candidates.members.length === 0) return holding;
    return {
      ...holding,
      waiting: `no device of the zone can sandbox it: install bubblewrap on one${outbound ? " (and slirp4netns, for its outbound network)" : ""}, then restart bucky there`,
    };
  }
  const live = new Set(candidates.live.map((c) => c.name));
  if (!appHasData(spec)) {
    const runnable = candidates.live.filter(
      (c) => !facts.draining.has(c.name) || spec.placement !== "any",
    );
    // Moved (`bucky app move`): there while that device can run it, for nothing holds it there.
    const movedTo =
      spec.placement === "any" && spec.moveTo
        ? runnable.find((c) => c.name === spec.moveTo)?.name
        : undefined;
    const runner = movedTo ?? placeApp(spec.app, spec.placement, candidates.members, runnable);
    return {
      holder: undefined,
      runner,
      claimant: undefined,
      standbys: [],
      movingTo: undefined,
      waiting: runner ? undefined : "no live device of the zone can run it now",
    };
  }
  const copies = new Map(facts.copies.get(spec.app) ?? []);
  if (own) {
    if (own.copy) copies.set(own.device, own.copy);
    else copies.delete(own.device);
  }
  return decideHolding({
    app: spec.app,
    placement: spec.placement,
    moveTo: spec.moveTo ?? null,
    standbys: spec.manifest.standbys ?? DEFAULT_STANDBYS,
    members: candidates.members,
    live,
    draining: facts.draining,
    claims: facts.claims.get(spec.app) ?? [],
    copies,
  });
}

/**
 * The holding of one app as the claims say it stands, for whoever shows it or acts on it
 * from afar (app status, the panel, the gateway's routes), and the device that is to take
 * the app over when the facts call for a takeover that no claim says happened yet.
 *
 * A holder not heard from within the live window is to be taken over, but only the device
 * taking it over writes the claim, and that device holds back while it still hears the
 * holder itself (lib/apps/convergence.ts mayBeLive: a full uplink delays the holder's
 * presence, not its bytes). Until that claim is written, the holder is the device the zone
 * knows runs the app: naming the one that is to take over would name a device not running
 * it (and send the gateway's requests there) for as long as it holds back. So the holding
 * is decided as if the holder were live, and the takeover is said beside it.
 */
export function claimedHolding(
  spec: AppSpec,
  candidates: { readonly members: readonly Candidate[]; readonly live: readonly Candidate[] },
  facts: HoldingFacts,
): { readonly holding: Holding; readonly takeoverBy: string | undefined } {
  const holding = holdingOf(spec, candidates, facts);
  const holder = holding.holder?.device;
  const silent = holder !== undefined && !candidates.live.some((c) => c.name === holder);
  const member = candidates.members.find((c) => c.name === holder);
  if (!silent || !member || holding.claimant === undefined)
    return { holding, takeoverBy: undefined };
  const asIfLive = holdingOf(spec, { ...candidates, live: [...candidates.live, member] }, facts);
  return { holding: asIfLive, takeoverBy: holding.claimant };
}
