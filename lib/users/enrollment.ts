/**
 * Enrollment: how a person sets up their way in. `bucky user add` (or `reset`) signs an
 * enrollment token with the owner key, for the account's current credentials and every
 * gateway of the zone (`bucky-enroll/2`): the link goes to the person, who opens it on
 * one of them (the link's, or, that one away or dead, any other: the same token at its
 * address) and makes a passkey or a password there. A gateway takes each link once (it
 * remembers the nonce, and refuses one any gateway has recorded a credential for), refuses
 * one a reset made void, and records the credential itself, under its own id: only the
 * gateways the link names may, so a member device that never saw the link cannot slip a
 * credential of its own into someone's account. A link used at two gateways at once
 * (before either heard of the other's record) leaves two records, and then neither counts
 * (lib/users/directory.ts): however a link leaks, it opens at most one way in.
 */

import { randomBytes } from "node:crypto";
import { eq, or } from "drizzle-orm";
import {
  type Credential,
  type Enrollment,
  MAX_ENROLLMENT_GATEWAYS,
  NONCE_BYTES,
  signEnrollment,
  type UserName,
  userKeys,
  verifyEnrollment,
} from "../../protocol/accounts.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { BuckyError } from "../errors.ts";
import { gatewayBase } from "../gateway/config.ts";
import { ENROLL_PATH } from "../gateway/routing.ts";
import { type FoundGateway, findGateway, gatewaysOf } from "../gateway/sessions.ts";
import type { NodeContext } from "../node/node-context.ts";
import { nextStampMs } from "../state/feed.ts";
import { keyGlob } from "../store/key-glob.ts";
import { state, usedLogins } from "../store/schema.ts";
import { everyMemberReads } from "../zone/readers.ts";
import type { Person } from "./directory.ts";

export const DEFAULT_ENROLLMENT_TTL_MS = 7 * 24 * 3600_000;
export const MAX_ENROLLMENT_TTL_MS = 30 * 24 * 3600_000;

export interface EnrollmentLink {
  readonly url: string;
  readonly expiresAt: string;
  /** The gateway the link leads to. */
  readonly gateway: string;
  /** The other gateways that take it, each with the link at its own address. */
  readonly otherGateways: readonly { readonly gateway: string; readonly url: string }[];
  /** True when none of the zone's gateways is heard alive: the link waits for `gateway`. */
  readonly gatewayOffline: boolean;
}

/** Where and until when a new enrollment link works: checked before anything is written. */
export interface EnrollmentPlan {
  readonly gateway: FoundGateway;
  /** Every gateway that takes it, the link's first. */
  readonly gateways: readonly FoundGateway[];
  /**
   * 2: for every gateway (`bucky-enroll/2`); 1: for the link's gateway alone, while a
   * member of an older bucky would refuse a credential recorded under a gateway's id
   * (lib/zone/readers.ts): then every later change of that gateway would wait there.
   */
  readonly version: 1 | 2;
  readonly expiresAt: number;
}

export function planEnrollment(node: NodeContext, ttlMs: number): EnrollmentPlan {
  if (!(ttlMs > 0 && ttlMs <= MAX_ENROLLMENT_TTL_MS))
    throw new BuckyError(
      "E_INVALID_INPUT",
      "an enrollment link lasts from a second to 30 days",
      "For example: --ttl 7d",
    );
  node.ownerKey();
  const gateway = findGateway(node);
  const others = gatewaysOf(node).filter((other) => other.id !== gateway.id);
  const several = everyMemberReads(node, {
    key: userKeys.credentialAt("someone", "nonce", gateway.id),
    value: null,
  });
  return {
    gateway,
    gateways: several ? [gateway, ...others].slice(0, MAX_ENROLLMENT_GATEWAYS) : [gateway],
    version: several ? 2 : 1,
    expiresAt: Math.floor((node.now() + ttlMs) / 1000),
  };
}

/** A link that lets `user` set up a passkey or a password, on the planned gateway. */
export function enrollmentLink(
  node: NodeContext,
  plan: EnrollmentPlan,
  user: UserName,
  creds: number,
): EnrollmentLink {
  const enrollment = signEnrollment(
    {
      zone: node.zoneId,
      user,
      creds,
      gateway: plan.gateway.id,
      ...(plan.version === 2 ? { gateways: plan.gateways.map((gateway) => gateway.id) } : {}),
      nonce: new Uint8Array(randomBytes(NONCE_BYTES)),
      expiresAt: plan.expiresAt,
    },
    node.ownerKey(),
  );
  const url = (gateway: FoundGateway) =>
    `${gatewayBase(gateway.config, gateway.address)}${ENROLL_PATH}?token=${enrollment.jws}`;
  return {
    url: url(plan.gateway),
    expiresAt: new Date(plan.expiresAt * 1000).toISOString(),
    gateway: plan.gateway.name,
    otherGateways: plan.gateways
      .slice(1)
      .map((gateway) => ({ gateway: gateway.name, url: url(gateway) })),
    gatewayOffline: plan.gateway.live === false,
  };
}

/** Enrollments being set up on this gateway: a link is taken by one at a time. */
export class Enrollments {
  private readonly busy = new Set<string>();

  constructor(private readonly node: NodeContext) {}

  /** The enrollment a link carries, if this gateway takes it now; otherwise why not. */
  open(token: string): { enrollment: Enrollment; person: Person } {
    let enrollment: Enrollment;
    try {
      enrollment = verifyEnrollment(token, this.node.zoneId);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      throw refused(`it is not one: ${error.message}`);
    }
    if (!enrollment.gateways.includes(this.node.deviceId)) {
      const name = this.node.membership().byId.get(enrollment.gateway)?.name;
      throw refused(`it is for another gateway of the zone${name ? ` (${name})` : ""}`);
    }
    // At the clock its record will carry, which every device checks it against: ahead of
    // this device's wall clock once that was set back.
    const recordedAtMs = nextStampMs(this.node.db, this.node.deviceId, this.node.now());
    if (enrollment.expiresAt <= Math.floor(recordedAtMs / 1000)) throw refused("it has expired");
    if (this.used(enrollment) || this.busy.has(enrollment.nonce))
      throw refused("it was already used: each link works once");
    const person = this.node.people().people.get(enrollment.user);
    if (!person) throw refused(`${enrollment.user} is not a person of this zone any more`);
    if (person.creds !== enrollment.creds)
      throw refused(`a newer link for ${enrollment.user} replaced it`);
    // A link for several gateways records its credential under this gateway's id, which a
    // member of an older bucky refuses (lib/zone/readers.ts): said before anything is made
    // or the link is spent, in words its person can act on. A new link names one gateway.
    if (enrollment.version !== 1 && !everyMemberReads(this.node, this.credentialOp(enrollment)))
      throw refused("a device of the zone runs an older bucky, which would refuse what it records");
    return { enrollment, person };
  }

  /**
   * Sets up `enrollment`'s credential with `make` (which may take a while: a password's
   * hash, a passkey's check), then records it: the link is held while `make` runs, so a
   * second attempt with it is refused, and spent once the credential is recorded.
   */
  async complete<T>(
    token: string,
    make: (enrollment: Enrollment) => Promise<{ credential: Credential; result: T }>,
  ): Promise<T> {
    const { enrollment } = this.open(token);
    this.busy.add(enrollment.nonce);
    try {
      const { credential, result } = await make(enrollment);
      // Looked at again: a reset or a removal may have come in meanwhile.
      const person = this.node.people().people.get(enrollment.user);
      if (person?.creds !== enrollment.creds)
        throw refused(`${enrollment.user}'s account changed while it was being set up`);
      // Or another gateway took the link meanwhile: a second record would void both.
      if (this.used(enrollment)) throw refused("it was already used: each link works once");
      this.node.write([{ ...this.credentialOp(enrollment), value: JSON.stringify(credential) }]);
      // Spent once recorded, not before: a write refused (a member of an older bucky come
      // in meanwhile, a full disk) leaves the link to be used again. A crash between the two
      // spends it all the same: the record holds it (used).
      this.node.db
        .insert(usedLogins)
        .values({ nonce: enrollment.nonce, expiresAt: enrollment.expiresAt })
        .onConflictDoNothing()
        .run();
      this.node.log.info("person enrolled", { user: enrollment.user, with: credential.kind });
      return result;
    } finally {
      this.busy.delete(enrollment.nonce);
    }
  }

  /** Where this gateway records `enrollment`'s credential (its value left to the caller). */
  private credentialOp(enrollment: Enrollment): { key: string; value: null } {
    const key =
      enrollment.version === 1
        ? userKeys.credential(enrollment.user, enrollment.nonce)
        : userKeys.credentialAt(enrollment.user, enrollment.nonce, this.node.deviceId);
    return { key, value: null };
  }

  private used(enrollment: Enrollment): boolean {
    if (this.node.db.select().from(usedLogins).where(eq(usedLogins.nonce, enrollment.nonce)).get())
      return true;
    // Recorded by any gateway the zone has heard from: under its nonce, or a gateway's id.
    const key = userKeys.credential(enrollment.user, enrollment.nonce);
    return (
      this.node.db
        .select({ key: state.key })
        .from(state)
        .where(or(eq(state.key, key), keyGlob(`${key}/*`)))
        .get() !== undefined
    );
  }
}

function refused(why: string): BuckyError {
  return new BuckyError(
    "E_PERMISSION",
    `this enrollment link does not work: ${why}`,
    "Ask an admin of the zone for a new one (`bucky user reset <name>`).",
  );
}
