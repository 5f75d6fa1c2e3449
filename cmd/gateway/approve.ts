/** `bucky gateway approve <device>`: let a device hold certificates for the names it serves (owner only). */

import { BuckyError } from "../../lib/errors.ts";
import type { Approved, ProposedApproval } from "../../lib/gateway/approval.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { canAsk, confirm } from "../confirm.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "approve",
    description:
      "Let a gateway hold certificates (zone CA or ACME) for its names; run on a device holding the owner key",
    examples: [
      "bucky gateway approve laptop                        # shows what laptop asks for, approves it once you say yes",
      "bucky gateway approve laptop --host home.lan --address 192.168.1.20",
      "bucky gateway approve laptop --yes --json           # what it asks for, unasked: check it first",
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
    yes: {
      type: "boolean",
      description:
        "Approve what it asks for (what --host and --address do not name) without asking; needed with --json or off a terminal",
    },
    ...waitArgs(),
  },
  async run(args, context) {
    const hosts = args.host === undefined ? undefined : list(args.host);
    const addresses = args.address === undefined ? undefined : list(args.address);
    if (hosts && addresses)
      return requestDaemon<Held<Approved>>(
        context.home,
        "POST",
        pathAsked("/v1/gateway/approvals", args),
        {
          device: args.device,
          hosts,
          addresses,
        },
      );
    // What is not named is what the device asks for, its own to write: a member can ask
    // for router.lan and the router's address. So it is shown first, and exactly what was
    // shown is approved.
    const query = new URLSearchParams({
      ...(hosts ? { hosts: hosts.join(",") } : {}),
      ...(addresses ? { addresses: addresses.join(",") } : {}),
    });
    const asked = await requestDaemon<ProposedApproval>(
      context.home,
      "GET",
      `/v1/gateway/approvals/${encodeURIComponent(args.device)}?${query}`,
    );
    const unseen = [...(hosts ? [] : asked.hosts), ...(addresses ? [] : asked.addresses)];
    if (args.yes !== true && (unseen.length > 0 || (!hosts && !addresses))) {
      if (!canAsk(context.json))
        throw new BuckyError(
          "E_USAGE",
          `${asked.device} asks to be approved for ${describeNames(asked)}: nothing was approved unseen`,
          `If these are ${asked.device}'s own names, run again with --yes, or name them: bucky gateway approve ${asked.device} --host ${asked.hosts.join(",") || '""'} --address ${asked.addresses.join(",") || '""'}`,
        );
      const yes = await confirm(
        [
          `${asked.device} asks to be approved as a gateway for: ${describeNames(asked)}.`,
          `Phones and laptops trusting the zone's root will accept these names from ${asked.device}.`,
          "Approve exactly these? [y/N]",
        ].join("\n"),
      );
      if (!yes)
        throw new BuckyError(
          "E_USAGE",
          `${asked.device} was not approved: the names were not confirmed`,
          `To approve only some, name them: bucky gateway approve ${asked.device} --host NAME --address IP`,
        );
    }
    return requestDaemon<Held<Approved>>(
      context.home,
      "POST",
      pathAsked("/v1/gateway/approvals", args),
      {
        device: asked.device,
        hosts: asked.hosts,
        addresses: asked.addresses,
      },
    );
  },
  text: (result) => {
    const names = [...result.hosts, ...result.addresses];
    return [
      ...(names.length === 0
        ? [`${result.device} may no longer hold certificates for any name.`]
        : [
            `${result.device} may hold certificates for: ${names.join(", ")}${result.hosts.length > 0 ? ` (and <app>.${result.hosts[0]} under it)` : ""}.`,
            "The zone CA issues them and the gateways answer its ACME challenges from now on.",
          ]),
      ...notHeldYetNote(result, "approval"),
    ].join("\n");
  },
});

/** The approval as the daemon answers it: with whether another device holds it yet. */
type Held<T> = T & HeldAnswer;

/** The names an approval would give, in words: no names at all withdraws it. */
function describeNames(names: { hosts: readonly string[]; addresses: readonly string[] }): string {
  const all = [
    ...names.hosts.map((host) => `${host} (and <app>.${host} under it)`),
    ...names.addresses,
  ];
  return all.length === 0 ? "no names (it would withdraw its approval)" : all.join(", ");
}

function list(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}
