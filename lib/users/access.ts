/**
 * Who is behind a request, and what that lets them see and do. A session is either a
 * person's (signed in with a passkey or a password, or the owner through the owner key's
 * login link) or a device's (a login link made on a device without the owner key): a
 * device's session reaches what that device itself could, and never acts with keys
 * another device holds.
 */
import type { Role, UserName } from "../../protocol/accounts.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import type { UserSession } from "../../protocol/user-session.ts";
import type { AppSpec } from "../apps/spec.ts";

export type Viewer =
  | {
      readonly kind: "device";
      readonly device: DeviceId;
      /** Its name, while it is a member. */
      readonly deviceName?: string;
    }
  | {
      readonly kind: "person";
      readonly user: UserName;
      readonly role: Role;
      readonly session: UserSession;
      /** When a person of this name was last removed (Person.removedAtMs), if ever. */
      readonly removedAtMs?: number;
      /** The rev of that removal (Person.removedRev). */
      readonly removedRev?: number;
      /** The device whose login link opened it (the owner's link), for rules. */
      readonly deviceName?: string;
    };

/** The owner and the admins: they see and manage the whole zone. */
export function isAdmin(viewer: Viewer | undefined): boolean {
  return viewer?.kind === "person" && (viewer.role === "owner" || viewer.role === "admin");
}

/** What decides who may use an app: its exposure, and whom it is shared with. */
export interface AppReach {
  readonly exposure: "public" | "zone";
  readonly shared?: readonly string[] | null;
  /** When `shared` was set (ms since the epoch); null when no one said (before sharedAt). */
  readonly sharedAtMs?: number | null;
  /** The removals the share was made after, by name (AppSpec.sharedPastRemovals). */
  readonly sharedPastRemovals?: Readonly<Record<string, number>> | null;
}

/** An app's reach, from its spec. */
export function reachOf(spec: AppSpec): AppReach {
  const sharedAtMs = spec.sharedAt === undefined ? Number.NaN : Date.parse(spec.sharedAt);
  return {
    exposure: spec.manifest.exposure,
    shared: spec.shared ?? null,
    sharedAtMs: Number.isFinite(sharedAtMs) ? sharedAtMs : null,
    sharedPastRemovals: spec.sharedPastRemovals ?? null,
  };
}

/**
 * Whether `viewer` may use an app: a public app anyone; a zone-only app a device's
 * session, an admin, and, when it is shared with some only, the people and roles it
 * names (everyone of the zone when it names none).
 */
export function mayUseApp(viewer: Viewer | undefined, app: AppReach): boolean {
  if (app.exposure === "public") return true;
  if (!viewer) return false;
  return (
    viewer.kind === "device" ||
    personMayUseApp(
      {
        name: viewer.user,
        role: viewer.role,
        ...(viewer.removedAtMs !== undefined ? { removedAtMs: viewer.removedAtMs } : {}),
        ...(viewer.removedRev !== undefined ? { removedRev: viewer.removedRev } : {}),
      },
      app,
    )
  );
}

/**
 * Whether a person (signed in) may use an app. Their name in a share counts only if the
 * share was made after the last removal of a person of that name: a share given to someone
 * removed since is not given to whoever was added under the name after them. A share says
 * which removal of each name it was made after (its device had heard of it): one made
 * beside a removal it had not heard of (across a partition, or dated earlier by a clock
 * behind) does not count for whoever comes after. A share from before shares said so goes
 * by its time (a removal is dated to its second: a share set within that second does not
 * count either).
 */
export function personMayUseApp(
  person: { name: string; role: Role; removedAtMs?: number; removedRev?: number },
  app: AppReach,
): boolean {
  if (app.exposure === "public" || person.role === "owner" || person.role === "admin") return true;
  if (!app.shared) return true;
  if (app.shared.includes(person.role)) return true;
  if (!app.shared.includes(person.name)) return false;
  if (person.removedAtMs === undefined && person.removedRev === undefined) return true;
  // Its own entry only: a person named `constructor` is no entry of every object's.
  const removals = app.sharedPastRemovals;
  const madeAfter =
    removals && Object.hasOwn(removals, person.name) ? removals[person.name] : undefined;
  if (madeAfter !== undefined) return (person.removedRev ?? 0) <= madeAfter;
  if (person.removedAtMs === undefined) return false;
  return app.sharedAtMs != null && app.sharedAtMs >= person.removedAtMs + 1000;
}

/** What the control panel lets a session do. */
export interface PanelRights {
  /** See the zone: devices, backups, rules, traffic, everyone's apps. */
  readonly seeZone: boolean;
  /** Install, start, stop, remove and share apps; add and remove rules: what any member device may write. */
  readonly manageApps: boolean;
  /** Invite, revoke, add and remove people, back up: what needs the keys of the device serving the panel. */
  readonly useDeviceKeys: boolean;
}

export function panelRights(viewer: Viewer): PanelRights {
  if (viewer.kind === "device") return { seeZone: true, manageApps: true, useDeviceKeys: false };
  const admin = isAdmin(viewer);
  return { seeZone: admin, manageApps: admin, useDeviceKeys: admin };
}
