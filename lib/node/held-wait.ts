/**
 * Whether a zone write's answer waits for another device to hold the write. It does by
 * default (3 s at most, NodeContext.untilHeldElsewhere), so the device may go as the
 * command ends; a request with `?wait=false` (the CLI's `--no-wait`) is answered at once:
 * for scripts, and for a person who knows their other devices are off. The write is then
 * on this device alone until the next exchange carries it, and the answer says so
 * (`waited: false`).
 */
import type { Context } from "hono";
import type { DeviceId } from "../../protocol/ids.ts";
import type { Installed } from "../apps/admin.ts";
import { untilPackageHeldElsewhere } from "../apps/package-held.ts";
import { BuckyError } from "../errors.ts";
import type { HeldElsewhere, NodeContext } from "./node-context.ts";

/** The query parameter that says whether to wait: `true` (the default) or `false`. */
const WAIT_PARAM = "wait";

/** How held a write is, as its answer says it. */
export interface HeldAnswer {
  readonly heldElsewhere: HeldElsewhere;
  /** Present, and false, only when the request said not to wait. */
  readonly waited?: false;
}

/** `path` as the CLI asks it: with `?wait=false` when `wait` is false (`--no-wait`). */
export function pathAsked(path: string, { wait }: { wait: boolean }): string {
  if (wait) return path;
  return `${path}${path.includes("?") ? "&" : "?"}${WAIT_PARAM}=false`;
}

/** Whether the request asks to wait; a value other than true or false is refused. */
export function asksToWait(c: Context): boolean {
  const said = c.req.query(WAIT_PARAM);
  if (said === undefined || said === "true") return true;
  if (said === "false") return false;
  throw new BuckyError(
    "E_INVALID_INPUT",
    `"${WAIT_PARAM}=${said}" is neither true nor false`,
    `Leave it out to wait for another device to hold the write, or say ${WAIT_PARAM}=false not to.`,
  );
}

/**
 * How held the write this request made is (`what` names it for the log): waited for
 * unless the request said not to, then asked at once.
 */
export function heldAsAsked(c: Context, node: NodeContext, what: string): Promise<HeldAnswer> {
  return heldAnswer(node, what, { wait: asksToWait(c) });
}

/** How held this device's writes so far are: waited for when `wait`, else asked at once. */
export async function heldAnswer(
  node: NodeContext,
  what: string,
  { wait }: { wait: boolean },
): Promise<HeldAnswer> {
  if (wait) return { heldElsewhere: await node.untilHeldElsewhere(what) };
  return { heldElsewhere: node.heldElsewhereNow(what), waited: false };
}

/**
 * Whether the one device `device` holds this device's writes so far (a write only it acts
 * on): waited for when `wait`, else asked at once.
 */
export async function heldByAnswer(
  node: NodeContext,
  device: DeviceId,
  what: string,
  { wait }: { wait: boolean },
): Promise<"held" | "not yet"> {
  return wait ? await node.untilHeldBy(device, what) : node.heldByNow(device, what);
}

/**
 * How held an install is: once another device holds its spec, and a device that may run
 * it its package too (a spec whose package went with this device runs nowhere). Asked not
 * to wait, at once, its package not asked after (so never said held).
 */
export async function installHeld(
  node: NodeContext,
  installed: Installed,
  { wait }: { wait: boolean },
): Promise<HeldAnswer> {
  const what = `install of ${installed.app}`;
  if (!wait) {
    const held = await heldAnswer(node, what, { wait: false });
    return { ...held, heldElsewhere: held.heldElsewhere === "alone" ? "alone" : "not yet" };
  }
  const specHeld = await node.untilHeldElsewhere(what);
  return {
    heldElsewhere:
      specHeld === "held" ? await untilPackageHeldElsewhere(node, installed) : specHeld,
  };
}
