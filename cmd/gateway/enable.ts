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
  },
  run: (args, context) =>
    requestDaemon<GatewayConfig>(context.home, "POST", "/v1/gateway", {
      ...(args.listen ? { listen: args.listen } : {}),
      ...(args.host ? { host: args.host } : {}),
      ...(args["tls-cert"] ? { certFile: resolve(args["tls-cert"]) } : {}),
      ...(args["tls-key"] ? { keyFile: resolve(args["tls-key"]) } : {}),
    }),
  text: (config) =>
    [
      `This device is a gateway of the zone, listening on ${config.listen}${config.https ? " (HTTPS)" : ""}.`,
      config.host
        ? `Apps answer at <app>.${config.host}, and at /apps/<app>/.`
        : "Apps answer at /apps/<app>/ (give --host to reach them by name).",
      ...(config.https
        ? []
        : ["It serves plain HTTP: give --tls-cert and --tls-key to serve HTTPS."]),
    ].join("\n"),
});
