/** `bucky gateway approve <device>`: let a device hold certificates for the names it serves (owner only). */
import type { Approved } from "../../lib/gateway/approval.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "approve",
    description:
      "Let a gateway hold certificates (zone CA or ACME) for its names; run on a device holding the owner key",
    examples: [
      "bucky gateway approve laptop                        # what laptop serves now: its host and its addresses",
      "bucky gateway approve laptop --host home.lan --address 192.168.1.20",
      'bucky gateway approve laptop --host "" --address ""  # withdraw the approval',
    ],
  },
  args: {
    device: { type: "positional", required: true, description: "The gateway's device name" },
    host: {
      type: "string",
      valueHint: "name,…",
      description:
        "The host names it may serve (each with <app>.<name> under it); default: its --host",
    },
    address: {
      type: "string",
      valueHint: "ip,…",
      description:
        "The private addresses the zone CA may certify for it; default: those it asks for",
    },
  },
  run: (args, context) =>
    requestDaemon<Approved>(context.home, "POST", "/v1/gateway/approvals", {
      device: args.device,
      ...(args.host !== undefined ? { hosts: list(args.host) } : {}),
      ...(args.address !== undefined ? { addresses: list(args.address) } : {}),
    }),
  text: (result) => {
    const names = [...result.hosts, ...result.addresses];
    return names.length === 0
      ? `${result.device} may no longer hold certificates for any name.`
      : [
          `${result.device} may hold certificates for: ${names.join(", ")}${result.hosts.length > 0 ? ` (and <app>.${result.hosts[0]} under it)` : ""}.`,
          "The zone CA issues them and the gateways answer its ACME challenges from now on.",
        ].join("\n");
  },
});

function list(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}
