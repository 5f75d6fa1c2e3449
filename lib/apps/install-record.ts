/**
 * An install, kept beside the app's spec under a key of its own:
 *
 *   users/<user>/apps/<app>/install   the spec as the install (or upgrade) wrote it
 *
 * Every command writes the spec whole, from what its device saw. A stop, share, move or
 * removal given on one device at once with an upgrade on another, later by the clock,
 * wrote the version before back over the upgrade: the upgrade was undone without a word.
 * An upgrade names the install it upgraded (`installedOver`); a spec of that install is
 * read with the upgrade laid over it, and the acts of that install apply to the upgrade
 * (spec-acts.ts): both stand, whichever came later.
 */
import type { Op } from "../../protocol/changeset.ts";
import { appKeys } from "./app-keys.ts";
import type { AppSpec } from "./spec.ts";

/** What an install says of the app, as against what people did to it since. */
const INSTALL_FIELDS = [
  "version",
  "package",
  "previousPackage",
  "manifest",
  "image",
  "unsandboxed",
  "unsandboxedGrant",
  "previousUnsandboxedGrant",
  "installedAt",
  "installedOver",
] as const satisfies readonly (keyof AppSpec)[];

/** The op keeping the install `spec` is, beside the spec it writes. */
export function installOp(spec: AppSpec): Op {
  return { key: appKeys.install(spec.app), value: JSON.stringify(spec) };
}

/**
 * `spec` with `install` laid over it where `install` upgraded the install `spec` is of:
 * written from a view before the upgrade, the spec says what people did (it stands), the
 * upgrade what runs. Neither an upgrade it went before (a failed one given up) nor a purge
 * goes with it: a purge raced by another command keeps the data (lib/apps/purge.ts), which
 * a purge given again deletes.
 */
export function withUpgrade(spec: AppSpec, install: AppSpec | undefined): AppSpec {
  if (install?.installedOver === undefined || install.installedOver !== spec.installedAt)
    return spec;
  const out: Record<string, unknown> = { ...spec };
  for (const field of INSTALL_FIELDS) {
    delete out[field];
    if (install[field] !== undefined) out[field] = install[field];
  }
  delete out.failedUpgrade;
  delete out.purge;
  delete out.purgeGrant;
  return out as unknown as AppSpec;
}
