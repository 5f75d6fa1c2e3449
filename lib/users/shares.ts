/**
 * Whom a zone-only app is shared with: everyone of the zone (the default), or only the
 * people and roles its spec names (`bucky app share notes --with ann,child`). Admins see
 * every app. Any member device may write an app's spec, so a share is no secret kept from
 * the zone's devices: it decides what people see at the gateways. A share names a person,
 * not just a name: it stops counting for them once they are removed, and someone added
 * later under the name gets nothing of it until the app is shared again (access.ts).
 */
import { checkUserName, isRole } from "../../protocol/accounts.ts";
import { type AppSpec, appKeys, readSpec } from "../apps/spec.ts";
import { carriedActOps, shareActOp } from "../apps/spec-acts.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";

/** Shares `app` with `names` (people and roles), or with everyone (null, or `everyone`). */
export function shareApp(node: NodeContext, app: string, names: readonly string[] | null): AppSpec {
  const current = readSpec(node.db, app);
  if (!current || current.desired === "removed")
    throw new BuckyError(
      "E_NOT_FOUND",
      `no app ${app} is installed`,
      "See the apps with `bucky app list`.",
    );
  if (current.manifest.exposure === "public")
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${app} is public: anyone reaches it, signed in or not`,
      'Shares are for zone-only apps (exposure "zone" in bucky-app.json).',
    );
  const everyone = names === null || (names.length === 1 && names[0] === "everyone");
  const shared = everyone ? null : [...new Set(names)].sort();
  for (const name of shared ?? []) {
    if (isRole(name) && name !== "owner") continue;
    const checked = checkUserName(name, true);
    if (!checked.ok || !node.people().people.has(name))
      throw new BuckyError(
        "E_NOT_FOUND",
        `this zone has no person named ${name}, and it is no role`,
        "Share with people (see `bucky user list`) or roles (admin, member, child), or with everyone.",
      );
  }
  if (shared?.length === 0)
    throw new BuckyError(
      "E_USAGE",
      "share it with someone, or with everyone",
      "For example: --with ann,child",
    );
  const at = new Date(node.now()).toISOString();
  // Each person it names, as of the last removal of the name this device has heard of.
  const people = node.people().people;
  const pastRemovals = Object.fromEntries(
    (shared ?? [])
      .filter((name) => !isRole(name))
      .map((name) => [name, people.get(name)?.removedRev ?? 0]),
  );
  const { sharedPastRemovals: _before, ...rest } = current;
  const spec: AppSpec = {
    ...rest,
    shared,
    sharedAt: at,
    ...(shared ? { sharedPastRemovals: pastRemovals } : {}),
    updatedAt: at,
    actsAt: at,
  };
  // Beside it too, where a stop, removal or move written at once elsewhere does not undo it.
  node.write([
    { key: appKeys.spec(app), value: JSON.stringify(spec) },
    ...carriedActOps(current, spec).filter((op) => op.key !== shareActOp(spec).key),
    shareActOp(spec),
  ]);
  node.log.info("app shared", { app, with: shared?.join(",") ?? "everyone" });
  return spec;
}
