/** `bucky gateway enable`: make this device the zone's front door for people and browsers. */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { BuckyError } from "../../lib/errors.ts";
import type { ApprovalStatus } from "../../lib/gateway/approval.ts";
import type { GatewayConfig } from "../../lib/gateway/config.ts";
import { DEFAULT_GATEWAY_LISTEN, DEFAULT_HTTP_LISTEN } from "../../lib/gateway/config.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "enable",
    description: "Serve the zone's apps from this device, by name",
    examples: [
      "bucky gateway enable --host home.example.com           # HTTPS on :443, certificates over ACME",
      "bucky gateway enable --host home.lan                   # HTTPS with the zone CA's certificates",
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
    tls: {
      type: "string",
      valueHint: "auto|acme|zone|off",
      description:
        "Certificates: auto (ACME for a public --host, the zone CA for a local one like home.lan; none without a host), or as named",
    },
    "http-listen": {
      type: "string",
      valueHint: "addr:port",
      description: `Plain HTTP for ACME challenges and redirects to HTTPS (default with ACME: ${DEFAULT_HTTP_LISTEN})`,
    },
    "acme-directory": {
      type: "string",
      valueHint: "url",
      description: "The ACME CA's directory (default: Let's Encrypt)",
    },
    "acme-eab-kid": {
      type: "string",
      valueHint: "id",
      description: "External account binding: the key id the CA gave (with --acme-eab-key-file)",
    },
    "acme-eab-key-file": {
      type: "string",
      valueHint: "file",
      description: "A file (mode 0600) holding the CA's HMAC key for that account, base64url",
    },
    "relay-only": {
      type: "boolean",
      description:
        "Serve no apps; only relay for devices behind NAT, of any zone (prints a ticket for `bucky relay add`)",
    },
  },
  run: (args, context) =>
    requestDaemon<Enabled | RelayOnly>(context.home, "POST", "/v1/gateway", {
      ...(args.listen ? { listen: args.listen } : {}),
      ...(args.host ? { host: args.host } : {}),
      ...(args["tls-cert"] ? { certFile: resolve(args["tls-cert"]) } : {}),
      ...(args["tls-key"] ? { keyFile: resolve(args["tls-key"]) } : {}),
      ...(args.tls ? { tls: args.tls } : {}),
      ...(args["http-listen"] ? { httpListen: args["http-listen"] } : {}),
      ...(args["acme-directory"] ? { acmeDirectory: args["acme-directory"] } : {}),
      ...externalAccount(args["acme-eab-kid"], args["acme-eab-key-file"]),
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
          `This device is a gateway of the zone, listening on ${config.listen}${config.https ? " (HTTPS)" : ""}${config.httpListen ? ` and ${config.httpListen} (plain HTTP)` : ""}.`,
          config.host
            ? `Apps answer at <app>.${config.host}, and at /apps/<app>/.`
            : "Each app answers at a port of its own, above this one (`bucky app status <app>` gives its address; /apps/<app>/ leads there). Give --host to reach them by name.",
          ...(config.tls === "acme"
            ? [
                `Its certificates come over ACME from ${config.acmeDirectory}, and renew by themselves; \`bucky status\` shows them. ${config.host} and each app's name under it must point at this device, port 80 reaching it.`,
              ]
            : config.tls === "zone"
              ? [
                  "Its certificate comes from the zone's own CA: trust the root from `bucky ca export` on your phones and laptops.",
                ]
              : config.https
                ? []
                : [
                    "It serves plain HTTP: give it a name (--host) for HTTPS, or --tls-cert and --tls-key.",
                  ]),
          ...(config.approval && !config.approval.approved
            ? [
                `It has no certificate until the owner approves it for ${config.approval.unapproved.join(", ")}.`,
                config.approval.hint ?? "",
              ]
            : []),
        ].join("\n"),
});

/** The CA's external account: the key id, and the HMAC key read from a file only its owner reads. */
function externalAccount(
  kid: string | undefined,
  keyFile: string | undefined,
): { eab?: { kid: string; hmacKey: string } } {
  if (kid === undefined && keyFile === undefined) return {};
  if (kid === undefined || keyFile === undefined)
    throw new BuckyError(
      "E_USAGE",
      "--acme-eab-kid and --acme-eab-key-file go together",
      "Give both, as the CA gave them.",
    );
  return { eab: { kid, hmacKey: readPrivateFile(keyFile, "--acme-eab-key-file").trim() } };
}

/** The gateway as enabled, and (for certificates from the zone CA or ACME) whether the owner approved it. */
type Enabled = GatewayConfig & { readonly approval?: ApprovalStatus };

interface RelayOnly {
  readonly relayOnly: true;
  readonly ticket: string;
}

/** A small regular file only its owner can read or change (it holds a secret). */
function readPrivateFile(file: string, flag: string): string {
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(file);
  } catch (error) {
    throw new BuckyError("E_NOT_FOUND", `cannot read ${flag} ${file}`, undefined, { cause: error });
  }
  if (!info.isFile() || info.size > 4096)
    throw new BuckyError("E_INVALID_INPUT", `${file} is not a key file (a small regular file)`);
  if ((info.mode & 0o077) !== 0)
    throw new BuckyError(
      "E_PERMISSION",
      `${file} can be read or changed by others (mode ${(info.mode & 0o777).toString(8)}), and it holds a key`,
      `Make it yours alone: chmod 600 ${file}`,
    );
  return readFileSync(file, "utf8");
}
