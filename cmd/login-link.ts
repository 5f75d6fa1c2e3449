/** `bucky login-link`: a one-time link that signs a browser in to the zone's apps. */
import type { LoginLink } from "../lib/gateway/sessions.ts";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "./command.ts";
import { parseDuration } from "./duration.ts";

/** The --ttl of a command that makes a login link. */
export const linkTtlArg = {
  ttl: {
    type: "string",
    valueHint: "duration",
    description: "How long the link works (default: 1h)",
  },
} as const;

/** Asks the daemon for a one-time login link that leads, once used, to `next`. */
export function requestLoginLink(
  home: string,
  ttl: string | undefined,
  next?: string,
): Promise<LoginLink> {
  return requestDaemon<LoginLink>(home, "POST", "/v1/login-links", {
    ttlMs: parseDuration(ttl ?? "1h", "--ttl"),
    ...(next ? { next } : {}),
  });
}

/** Whom a link signs in, in words. */
export function signsInAs(link: LoginLink): string {
  return link.signsInAs === "owner"
    ? "as the owner"
    : "as this device (no person: this device does not hold the owner key)";
}

export default defineBuckyCommand({
  meta: {
    name: "login-link",
    description: "Print a one-time link that signs a browser in to the zone's apps",
    examples: ["bucky login-link", "bucky login-link --ttl 10m"],
  },
  args: linkTtlArg,
  run: (args, context) => requestLoginLink(context.home, args.ttl),
  text: (link) =>
    [
      ...offlineNote(link),
      `${link.url}\n\nOpen it once, before ${link.expiresAt}; it signs that browser in for 30 days, ${signsInAs(link)}.`,
    ].join("\n"),
});

/** Said first when the link's gateway is offline: it works once that gateway is back. */
export function offlineNote(link: LoginLink): string[] {
  return link.offlineGateway
    ? [
        `The zone's gateway ${link.offlineGateway} is offline: this link works once it is back (or make another device a gateway: \`bucky gateway enable\`).`,
      ]
    : [];
}
