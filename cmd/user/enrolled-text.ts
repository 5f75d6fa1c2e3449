/** How `bucky user add` and `reset` show the link a person sets up their way in with. */
import type { Enrolled } from "../../lib/users/accounts.ts";

export function enrolledText(result: Enrolled): string {
  return [
    // (An older daemon's answer says nothing of it.)
    ...(result.enrollment.gatewayOffline
      ? [
          `The zone's gateway ${result.enrollment.gateway} is offline: this link works once it is back (or make another device a gateway: \`bucky gateway enable\`).`,
        ]
      : []),
    `${result.user} (${result.role}) sets up a passkey or a password with this link, once, before ${result.enrollment.expiresAt}:`,
    "",
    result.enrollment.url,
    "",
    `Send it to them privately: whoever opens it first becomes ${result.user}. It works at the gateway ${result.enrollment.gateway}; they then sign in at any gateway of the zone.`,
    ...(result.enrollment.otherGateways.length > 0
      ? [
          "Where that gateway is away, the same link works at another (once, at one of them):",
          ...result.enrollment.otherGateways.map((other) => `  ${other.gateway}: ${other.url}`),
        ]
      : []),
  ].join("\n");
}
