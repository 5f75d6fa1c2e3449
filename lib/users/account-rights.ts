/**
 * Who may change whose account. The owner key signs every account record, so the device
 * holding it writes whatever it is asked to; what it is asked comes from the CLI on that
 * device (whoever holds its home holds the owner key: the owner) or from a person signed
 * in to its panel. A panel session is not the owner key: an admin who could give the
 * owner a new link would open it and be the owner. So, as a serious product does with its
 * super-administrator, the owner alone manages admins and the owner; an admin manages
 * members and children, and may give themselves a new link; no one else changes anyone.
 *
 * The zone's devices are the owner's in the same way. A revocation is signed with the owner
 * key, and an admin who could revoke the owner's own devices (every other device holding
 * the owner key among them) could shut the owner out of their zone. An invitation admits a
 * device that stays a member, and sees the whole zone from its own sessions, after the
 * admin who invited it is removed. Approving a gateway lets that device hold the zone's
 * certificates for its names and so receive every person's session cookie there. So the
 * owner alone adds, revokes and approves devices (anyone who may see the invitations may
 * still withdraw one not used yet: that admits no one).
 */
import { OWNER_USER, type Role } from "../../protocol/accounts.ts";
import { BuckyError } from "../errors.ts";
import type { Viewer } from "./access.ts";

/** Who asks for a change: the owner key's holder (the CLI), or a person signed in. */
export type AccountActor =
  | { readonly kind: "owner-key" }
  | { readonly kind: "person"; readonly user: string; readonly role: Role };

export type AccountChange =
  | { readonly kind: "add"; readonly role: Role }
  | {
      readonly kind: "reset" | "remove" | "sign-out";
      readonly user: string;
      readonly role: Role;
    };

/** Refuses a change `actor` may not make (E_PERMISSION), else returns. */
export function checkAccountChange(actor: AccountActor, change: AccountChange): void {
  if (actor.kind === "owner-key" || actor.role === "owner") return;
  const what =
    change.kind === "add"
      ? `add ${change.role === "admin" ? "an" : "a"} ${change.role}`
      : change.user === OWNER_USER
        ? `${verbOf(change.kind)} the owner`
        : `${verbOf(change.kind)} ${change.user} (${change.role})`;
  if (actor.role !== "admin")
    throw new BuckyError(
      "E_PERMISSION",
      `${actor.user} (${actor.role}) cannot ${what}: only the owner and the admins manage people`,
    );
  if ((change.kind === "reset" || change.kind === "sign-out") && change.user === actor.user) return;
  if (change.role === "owner" || change.role === "admin")
    throw new BuckyError(
      "E_PERMISSION",
      `${actor.user} (admin) cannot ${what}: only the owner manages the owner and the admins`,
      "Ask the owner to do it, on a device holding the owner key.",
    );
}

/** A change to the zone's devices: inviting one, revoking one, or approving one as a gateway. */
export type DeviceChange =
  | { readonly kind: "invite" }
  | { readonly kind: "revoke" | "approve-gateway"; readonly device: string };

/** Refuses (E_PERMISSION) a change to the zone's devices asked by anyone but the owner. */
export function checkDeviceChange(actor: AccountActor, change: DeviceChange): void {
  if (actor.kind === "owner-key" || actor.role === "owner") return;
  const who = `${actor.user} (${actor.role})`;
  throw new BuckyError(
    "E_PERMISSION",
    change.kind === "invite"
      ? `${who} cannot invite a device: only the owner adds devices to the zone`
      : change.kind === "revoke"
        ? `${who} cannot revoke ${change.device}: only the owner removes devices from the zone`
        : `${who} cannot approve ${change.device} as a gateway: only the owner chooses who holds the zone's names`,
    "Ask the owner to do it, on a device holding the owner key.",
  );
}

/** Whether `actor` (none: a device's session) may invite, revoke and approve devices (the panel offers it only then). */
export function mayChangeDevices(actor: AccountActor | undefined): boolean {
  return actor !== undefined && (actor.kind === "owner-key" || actor.role === "owner");
}

/** Whether `actor` may make `change` (the panel offers only those). */
export function mayChangeAccount(actor: AccountActor, change: AccountChange): boolean {
  try {
    checkAccountChange(actor, change);
    return true;
  } catch (error) {
    if (error instanceof BuckyError) return false;
    throw error;
  }
}

/** The actor a panel viewer is: a device's session is no person, and changes no one. */
export function panelActor(viewer: Viewer): AccountActor | undefined {
  return viewer.kind === "person"
    ? { kind: "person", user: viewer.user, role: viewer.role }
    : undefined;
}

function verbOf(kind: "reset" | "remove" | "sign-out"): string {
  return kind === "sign-out" ? "sign out" : kind;
}
