/**
 * A step of signing in that belongs to another gateway of the zone. Two gateways may
 * share the zone's name (DNS lists both), and a browser's requests then land on either: a
 * login link is spent at the gateway it names (which alone remembers it spent), and a
 * passkey's ceremony ends where it began (its challenge is in that gateway's memory).
 * Landing on the other, each was refused half the time. Now that gateway carries the step
 * to the one it belongs to, over the devices' own connection, and gives the browser its
 * answer: a session cookie that gateway signed, good at every gateway. A ceremony's id
 * names the gateway that began it (`<device id>.<random>`); a login link names its own.
 *
 * What is carried is what the browser sent, and where it came from as this gateway saw it
 * (the place: the client's address, the page's origin, the host passkeys belong to); the
 * gateway it belongs to checks all of it as it checks its own requests.
 */
import { randomBytes } from "node:crypto";
import { toBase64url } from "../../protocol/encoding.ts";
import { type DeviceId, parseDeviceId } from "../../protocol/ids.ts";
import { decodeJws } from "../../protocol/jws.ts";
import { isRecord } from "../../protocol/shape.ts";
import { BuckyError } from "../errors.ts";
import type { HeldElsewhere, NodeContext } from "../node/node-context.ts";
import { PeerAnswerError } from "../node/peer-client.ts";
import { standingOf } from "../sync/membership.ts";
import type { Place } from "../users/signin.ts";
import { readGateway } from "./config.ts";

const HELD_ANSWERS = new Set<string>(["held", "not yet", "alone"] satisfies HeldElsewhere[]);

/** Where a gateway asks another to take a step of signing in (the peer API). */
export const FELLOW_SIGN_IN_PATH = "/v1/gateway/sign-in";

/** A step of signing in, carried to the gateway it belongs to. */
export type FellowStep =
  | { readonly kind: "login"; readonly token: string }
  | {
      readonly kind: "passkey" | "enroll-passkey";
      readonly ceremony: string;
      readonly response: unknown;
      readonly place: Place;
    };

/**
 * A login's or a passkey sign-in's session cookie; an enrollment's person, and whether
 * another device held the enrollment within the wait (absent from an older bucky).
 */
export type FellowAnswer =
  | { readonly cookie: string }
  | { readonly user: string; readonly heldElsewhere?: HeldElsewhere };

/** A new ceremony's id, naming `gateway`, which began it. */
export function ceremonyId(gateway: DeviceId): string {
  return `${gateway}.${toBase64url(new Uint8Array(randomBytes(16)))}`;
}

/** The gateway a ceremony's id names, if it names one. */
export function ceremonyGatewayOf(id: string): DeviceId | undefined {
  const dot = id.indexOf(".");
  return dot > 0 ? parseDeviceId(id.slice(0, dot)) : undefined;
}

/**
 * The gateway a login link's token names, read without checking it: the gateway it names
 * checks it (its signature, its zone, its one use). Undefined when it names none.
 */
export function loginGatewayOf(token: string): DeviceId | undefined {
  try {
    const payload = decodeJws(token).payload;
    return isRecord(payload) && typeof payload.gw === "string"
      ? parseDeviceId(payload.gw)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The gateway of the zone a step belongs to when it is another than this device: a member
 * in good standing that is a gateway. Undefined when the step is this gateway's own, or
 * names no such gateway (then this gateway refuses it as it always did).
 */
export function fellowOf(node: NodeContext, gateway: DeviceId | undefined): string | undefined {
  if (gateway === undefined || gateway === node.deviceId) return undefined;
  const membership = node.membership();
  const member = membership.byId.get(gateway);
  if (!member || standingOf(membership, gateway) !== "member") return undefined;
  return readGateway(node.db, member.name) ? member.name : undefined;
}

/** Carries `step` to the gateway `fellow` (fellowOf): its answer, or its refusal. */
export async function askFellow(
  node: NodeContext,
  fellow: string,
  step: FellowStep,
): Promise<FellowAnswer> {
  const unreachable = () =>
    new BuckyError(
      "E_UNAVAILABLE",
      `this step of signing in belongs to ${fellow}, another gateway of the zone, which cannot be reached now`,
      step.kind === "login"
        ? "Open the link again in a moment (it is not spent), or make a new one with `bucky login-link`."
        : "Start again from the page.",
    );
  const peer = node.peer(fellow);
  if (!peer) throw unreachable();
  let answer: Uint8Array;
  try {
    answer = await node.client.post(
      peer,
      FELLOW_SIGN_IN_PATH,
      new TextEncoder().encode(JSON.stringify(step)),
      { contentType: "application/json" },
    );
  } catch (error) {
    // Its refusal is the browser's answer, in its words; anything else, it was not reached.
    if (error instanceof PeerAnswerError && error.refused)
      throw new BuckyError(error.code, error.message, fellowHint(step));
    if (error instanceof BuckyError) throw unreachable();
    throw error;
  }
  // A member answers as it likes: one not of this shape is no answer.
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(answer));
  } catch {
    throw unreachable();
  }
  if (isRecord(parsed) && typeof parsed.cookie === "string") return { cookie: parsed.cookie };
  if (isRecord(parsed) && typeof parsed.user === "string") {
    const held = parsed.heldElsewhere;
    return HELD_ANSWERS.has(held as string)
      ? { user: parsed.user, heldElsewhere: held as HeldElsewhere }
      : { user: parsed.user };
  }
  throw unreachable();
}

function fellowHint(step: FellowStep): string {
  return step.kind === "login"
    ? "Make a new one with `bucky login-link`."
    : "Start again from the page.";
}

const MAX_TOKEN_CHARS = 4096;
const MAX_CEREMONY_CHARS = 128;
const MAX_PLACE_CHARS = 300;

/** A step another gateway carried here, of its shape, or refused (E_INVALID_INPUT). */
export function decodeFellowStep(bytes: Uint8Array): FellowStep {
  const refused = (why: string): never => {
    throw new BuckyError("E_INVALID_INPUT", `not a step of signing in: ${why}`);
  };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return refused("it is not JSON");
  }
  if (!isRecord(value)) return refused("it is not an object");
  const text = (field: unknown, max: number, what: string): string =>
    typeof field === "string" && field.length <= max ? field : refused(`its ${what} is not one`);
  if (value.kind === "login")
    return { kind: "login", token: text(value.token, MAX_TOKEN_CHARS, "token") };
  if (value.kind !== "passkey" && value.kind !== "enroll-passkey")
    return refused("of no known kind");
  const place = isRecord(value.place) ? value.place : refused("it says no place");
  return {
    kind: value.kind,
    ceremony: text(value.ceremony, MAX_CEREMONY_CHARS, "ceremony"),
    response: value.response,
    place: {
      client: text(place.client, MAX_PLACE_CHARS, "client"),
      origin: text(place.origin, MAX_PLACE_CHARS, "origin"),
      rpId: place.rpId === null ? null : text(place.rpId, MAX_PLACE_CHARS, "host"),
    },
  };
}
