/**
 * Enrollment: how a person sets up their way in. `bucky user add` (or `reset`) signs an
 * enrollment token with the owner key, for the account's current credentials and one
 * gateway; the link goes to the person, who opens it on that gateway and makes a passkey
 * or a password there. The gateway takes each link once (it remembers the nonce, and the
 * credential it records is kept under that nonce for the whole zone to see), refuses one
 * a reset made void, and records the credential itself: only it may, so a member device
 * that never saw the link cannot slip a credential of its own into someone's account.
 */
import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import {
  type Credential,
  type Enrollment,
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
import { type FoundGateway, findGateway } from "../gateway/sessions.ts";
import type { NodeContext } from "../node/node-context.ts";
import { state, usedLogins } from "../store/schema.ts";
import type { Person } from "./directory.ts";

export const DEFAULT_ENROLLMENT_TTL_MS = 7 * 24 * 3600_000;
export const MAX_ENROLLMENT_TTL_MS = 30 * 24 * 3600_000;

export interface EnrollmentLink {
  readonly url: string;
  readonly expiresAt: string;
  /** The gateway that takes it. */
  readonly gateway: string;
}

/** Where and until when a new enrollment link works: checked before anything is written. */
export interface EnrollmentPlan {
  readonly gateway: FoundGateway;
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
  return { gateway: findGateway(node), expiresAt: Math.floor((node.now() + ttlMs) / 1000) };
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
      nonce: new Uint8Array(randomBytes(NONCE_BYTES)),
      expiresAt: plan.expiresAt,
    },
    node.ownerKey(),
  );
  return {
    url: `${gatewayBase(plan.gateway.config, plan.gateway.address)}${ENROLL_PATH}?token=${enrollment.jws}`,
    expiresAt: new Date(plan.expiresAt * 1000).toISOString(),
    gateway: plan.gateway.name,
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
    if (enrollment.gateway !== this.node.deviceId) {
      const name = this.node.membership().byId.get(enrollment.gateway)?.name;
      throw refused(`it is for another gateway of the zone${name ? ` (${name})` : ""}`);
    }
    if (enrollment.expiresAt <= Math.floor(this.node.now() / 1000)) throw refused("it has expired");
    if (this.used(enrollment) || this.busy.has(enrollment.nonce))
      throw refused("it was already used: each link works once");
    const person = this.node.people().people.get(enrollment.user);
    if (!person) throw refused(`${enrollment.user} is not a person of this zone any more`);
    if (person.creds !== enrollment.creds)
      throw refused(`a newer link for ${enrollment.user} replaced it`);
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
      this.node.db
        .insert(usedLogins)
        .values({ nonce: enrollment.nonce, expiresAt: enrollment.expiresAt })
        .onConflictDoNothing()
        .run();
      this.node.write([
        {
          key: userKeys.credential(enrollment.user, enrollment.nonce),
          value: JSON.stringify(credential),
        },
      ]);
      this.node.log.info("person enrolled", { user: enrollment.user, with: credential.kind });
      return result;
    } finally {
      this.busy.delete(enrollment.nonce);
    }
  }

  private used(enrollment: Enrollment): boolean {
    if (this.node.db.select().from(usedLogins).where(eq(usedLogins.nonce, enrollment.nonce)).get())
      return true;
    const key = userKeys.credential(enrollment.user, enrollment.nonce);
    return (
      this.node.db.select({ key: state.key }).from(state).where(eq(state.key, key)).get() !==
      undefined
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
