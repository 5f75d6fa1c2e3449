/** `bucky gateway enable`: make this device the zone's front door for people and browsers. */
import { resolve } from "node:path";
import type { GatewayConfig } from "../../lib/gateway/config.ts";
import { DEFAULT_GATEWAY_LISTEN } from "../../lib/gateway/config.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "enable",
    description: "Serve the zone's apps from this device, by name",
    examples: [
      "bucky gateway enable --host home.example.com",
      "bucky gateway enable --listen :443 --host home.example.com --tls-cert cert.pem --tls-key key.pem",
      "bucky gateway enable --relay-only",
    ],
  },
  args: {
    listen: {
      type: "string",
      valueHint: "addr:port",
      description: `Where to listen (default: ${DEFAULT_GATEWAY_LISTEN})`,
    },
    host: {
      type: "string",
      valueHint: "name",
      description: "The zone's host name: apps answer at <app>.<name>",
    },
    "tls-cert": {
      type: "string",
      valueHint: "file",
      description: "A PEM certificate for HTTPS (with --tls-key)",
    },
    "tls-key": { type: "string", valueHint: "file", description: "Its PEM private key" },
    "relay-only": {
      type: "boolean",
      description:
        "Serve no apps; only relay for devices behind NAT, of any zone (prints a ticket for `bucky relay add`)",
    },
  },
  run: (args, context) =>
    requestDaemon<GatewayConfig | RelayOnly>(context.home, "POST", "/v1/gateway", {
      ...(args.listen ? { listen: args.listen } : {}),
      ...(args.host ? { host: args.host } : {}),
      ...(args["tls-cert"] ? { certFile: resolve(args["tls-cert"]) } : {}),
      ...(args["tls-key"] ? { keyFile: resolve(args["tls-key"]) } : {}),
      ...(args["relay-only"] ? { relayOnly: true } : {}),
    }),
  text: (config) =>
    "ticket" in config
      ? [
          "This device now relays for devices behind NAT, of this zone or any other, and serves no apps.",
          "It sees how much they send, never what. In a zone that should use it, run:",
          `  bucky relay add ${config.ticket}`,
        ].join("\n")
      : [
          `This device is a gateway of the zone, listening on ${config.listen}${config.https ? " (HTTPS)" : ""}.`,
          config.host
            ? `Apps answer at <app>.${config.host}, and at /apps/<app>/.`
            : "Apps answer at /apps/<app>/ (give --host to reach them by name).",
          ...(config.https
            ? []
            : ["It serves plain HTTP: give --tls-cert and --tls-key to serve HTTPS."]),
        ].join("\n"),
});

interface RelayOnly {
  readonly relayOnly: true;
  readonly ticket: string;
}
