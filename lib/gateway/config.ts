/**
 * Which devices are gateways, and how: `nodes/<device>/gateway` in the zone state (only
 * that device writes it). A certificate and key, when given, are copied into the home
 * (`<home>/gateway/`, key mode 0600); only whether the gateway speaks HTTPS is shared.
 * A configuration is written only once this device's gateway runs it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Op } from "../../protocol/changeset.ts";
import { isHostName, isIPv6Literal } from "../../protocol/names.ts";
import { isRecord } from "../../protocol/shape.ts";
import { isLocalName, LOCAL_SUFFIXES } from "../../protocol/zone-ca.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import { type StateReader, stateValue } from "../store/reads.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { readAppPortsRecord } from "./app-ports.ts";

export const DEFAULT_GATEWAY_LISTEN = "0.0.0.0:8080";
/** Where a gateway with automatic certificates serves HTTPS, and plain HTTP. */
export const DEFAULT_HTTPS_LISTEN = "0.0.0.0:443";
export const DEFAULT_HTTP_LISTEN = "0.0.0.0:80";

/**
 * Where a gateway's certificates come from: files the owner gave, ACME (a public host
 * name), or the zone CA (a local name, or none).
 */
export type CertificateSource = "files" | "acme" | "zone";

export interface GatewayConfig {
  /** ADDR:PORT the gateway listens on (HTTPS when `https`). */
  readonly listen: string;
  /** The zone's host name: apps answer at <app>.<host>; null when reached by address only. */
  readonly host: string | null;
  readonly https: boolean;
  /**
   * Added with automatic certificates (a configuration without it and with `https` has
   * files): where the certificates come from.
   */
  readonly tls?: CertificateSource;
  /** Plain HTTP: ACME challenges, and a redirect to HTTPS once there is a certificate. */
  readonly httpListen?: string;
  /** The ACME directory, with `tls: "acme"`. */
  readonly acmeDirectory?: string;
}

/** What `bucky gateway enable` asks for. */
export interface GatewayRequest {
  readonly listen?: string;
  readonly host?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** auto (the default): ACME for a public host, the zone CA for a local one, else off. */
  readonly tls?: "auto" | "acme" | "zone" | "off";
  readonly httpListen?: string;
  readonly acmeDirectory?: string;
  /** External account binding: the key id and the HMAC key (base64url). */
  readonly eab?: { readonly kid: string; readonly hmacKey: string };
}

/**
 * A request to enable the gateway, as the local API receives it (`bucky gateway enable`):
 * each field checked for its type where it is read, so a wrong one is a usage error that
 * names it, not a TypeError in enableGateway (which took a number for --host).
 */
export function parseGatewayRequest(
  body: Readonly<Record<string, unknown>>,
): GatewayRequest & { readonly relayOnly: boolean } {
  const text = (name: keyof GatewayRequest, flag: string): string | undefined => {
    const value = body[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || value.length > 4096)
      throw new BuckyError(
        "E_USAGE",
        `${flag} must be text, not ${JSON.stringify(value)?.slice(0, 40)}`,
      );
    return value;
  };
  const tls = text("tls", "--tls");
  if (tls !== undefined && !["auto", "acme", "zone", "off"].includes(tls))
    throw new BuckyError(
      "E_USAGE",
      `--tls ${JSON.stringify(tls.slice(0, 40))} is not auto, acme, zone or off`,
    );
  const eab = body.eab;
  if (
    eab !== undefined &&
    eab !== null &&
    !(isRecord(eab) && typeof eab.kid === "string" && typeof eab.hmacKey === "string")
  )
    throw new BuckyError("E_USAGE", "an external account is a key id and an HMAC key");
  const fields = {
    listen: text("listen", "--listen"),
    host: text("host", "--host"),
    certFile: text("certFile", "--tls-cert"),
    keyFile: text("keyFile", "--tls-key"),
    tls: tls as GatewayRequest["tls"],
    httpListen: text("httpListen", "--http-listen"),
    acmeDirectory: text("acmeDirectory", "--acme-directory"),
    eab: isRecord(eab) ? { kid: eab.kid as string, hmacKey: eab.hmacKey as string } : undefined,
  };
  return {
    ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
    relayOnly: body.relayOnly === true,
  };
}

export const gatewayKey = (device: string) => `nodes/${device}/gateway`;
/** Set on a device that relays for any zone and serves no apps (`--relay-only`). */
export const relayOnlyKey = (device: string) => `nodes/${device}/relay`;

export function tlsFiles(paths: HomePaths): { cert: string; key: string } {
  return {
    cert: join(paths.home, "gateway", "cert.pem"),
    key: join(paths.home, "gateway", "key.pem"),
  };
}

/** A certificate and its key, PEM. */
export interface TlsPem {
  readonly cert: string;
  readonly key: string;
}

/** The gateway's certificate and key, as kept in the home. */
export function readTls(paths: HomePaths): TlsPem {
  const files = tlsFiles(paths);
  return { cert: readFileSync(files.cert, "utf8"), key: readFileSync(files.key, "utf8") };
}

/** What runs this device's gateway (GatewayHost). */
export interface GatewayRunner {
  /** Runs `config` now, or throws why it cannot, leaving what ran before running. */
  adopt(config: GatewayConfig, tls: TlsPem | undefined): void;
  /** Makes what runs match the zone state again. */
  apply(): void;
}

export function readGateway(db: StateReader, device: string): GatewayConfig | undefined {
  const value = stateValue(db, gatewayKey(device));
  return value ? parseGateway(value) : undefined;
}

/**
 * A device's gateway configuration as it wrote it, or undefined (no gateway) when it is
 * not of its shape: each device writes its own as it likes, and one that was `null`, or
 * whose listen was not ADDR:PORT, threw in `bucky status` and the sign-in of every device.
 */
export function parseGateway(text: string): GatewayConfig | undefined {
  const value: unknown = JSON.parse(text);
  if (!isRecord(value)) return undefined;
  const { listen, host, https, tls, httpListen, acmeDirectory } = value;
  // Its host name and listen address are shown as the zone's (`bucky status`, an app's
  // addresses, links in the panel): each is a name of its kind, or this is no gateway.
  const isListen = (field: unknown) => {
    if (typeof field !== "string" || field.length > 300) return false;
    try {
      const { host } = parseListen(field);
      // An IPv4 address is a host name of digits; an IPv6 one is written in brackets.
      return isHostName(host.toLowerCase()) || isIPv6Literal(host);
    } catch {
      return false;
    }
  };
  const isText = (field: unknown) => typeof field === "string" && field.length <= 2048;
  if (!isListen(listen) || typeof https !== "boolean") return undefined;
  if (host !== null && !(typeof host === "string" && isHostName(host.toLowerCase())))
    return undefined;
  if (tls !== undefined && tls !== "files" && tls !== "acme" && tls !== "zone") return undefined;
  if (httpListen !== undefined && !isListen(httpListen)) return undefined;
  if (acmeDirectory !== undefined && !isText(acmeDirectory)) return undefined;
  return value as unknown as GatewayConfig;
}

/** The URL people reach a gateway at: its host name, else its listen address. */
export function gatewayBase(config: GatewayConfig, fallbackHost?: string): string {
  const { host, port } = parseListen(config.listen);
  const name =
    config.host ?? (host === "0.0.0.0" || host === "::" ? (fallbackHost ?? "127.0.0.1") : host);
  const scheme = config.https ? "https" : "http";
  const defaultPort = config.https ? 443 : 80;
  return `${scheme}://${name.includes(":") ? `[${name}]` : name}${port === defaultPort ? "" : `:${port}`}`;
}

/**
 * An app's own address under a named gateway's host, `<scheme>://<app>.<host>[:port]/`:
 * an origin of its own (routing.ts).
 */
export function appByName(config: GatewayConfig, app: string): string {
  const base = new URL(gatewayBase(config));
  return `${base.protocol}//${app}.${base.host}/`;
}

/** ADDR:PORT → its parts; a bare :PORT listens on every interface. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || !(port > 0 && port < 65536)) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `--listen ${JSON.stringify(text)} is not ADDR:PORT`,
      "For example: --listen 0.0.0.0:8080 or --listen :443",
    );
  }
  return { host: match[1] ?? (match[2] || "0.0.0.0"), port };
}

/**
 * Refuses a port an app of this gateway has or had: it is that app's origin in every browser
 * that opened it, and what the app left there (a service worker above all) would run in the
 * panel's pages, or another app's, with the person's session (app-ports.ts).
 */
function refuseAppPorts(
  db: StateReader,
  deviceName: string,
  listens: Record<string, string | undefined>,
): void {
  const record = readAppPortsRecord(db, deviceName);
  for (const [flag, listen] of Object.entries(listens)) {
    if (listen === undefined) continue;
    const { port } = parseListen(listen);
    const app =
      [...record.ports].find(([, appPort]) => appPort === port)?.[0] ?? record.retired.get(port);
    if (app !== undefined)
      throw new BuckyError(
        "E_USAGE",
        `${flag} ${listen}: port ${port} is the app ${app}'s own address on this gateway`,
        "Give the gateway another port: a browser keeps what an app left at its address, and it would run in the gateway's pages.",
      );
  }
}

/**
 * Makes this device a gateway: starts `options` on `runner` (a port in use, a bad
 * certificate: an error, and nothing changes), then keeps them in the home and the state.
 */
export function enableGateway(
  zone: ZoneWriter,
  paths: HomePaths,
  deviceName: string,
  options: GatewayRequest,
  runner: GatewayRunner,
  defaults: { acmeDirectory: string },
): GatewayConfig {
  const host = options.host?.toLowerCase().replace(/\.$/, "") ?? null;
  if (host !== null && !isHostName(host)) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `--host ${JSON.stringify(options.host)} is not a host name`,
      "For example: --host home.example.com",
    );
  }
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
    throw new BuckyError(
      "E_USAGE",
      "--tls-cert and --tls-key go together",
      "Give both, or neither for plain HTTP.",
    );
  }
  const source = certificateSource(options, host);
  if (source === "zone" && host !== null && LOCAL_SUFFIXES.includes(host))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `--host ${host} is a suffix every local name ends with: a certificate for it would cover every .${host} name`,
      `Give the gateway a name of its own, such as --host home.${host}`,
    );
  if (
    options.eab !== undefined &&
    (typeof options.eab.kid !== "string" || typeof options.eab.hmacKey !== "string")
  )
    throw new BuckyError("E_USAGE", "an external account is a key id and an HMAC key");
  const listen =
    options.listen ??
    (source === "acme" || source === "zone" ? DEFAULT_HTTPS_LISTEN : DEFAULT_GATEWAY_LISTEN);
  parseListen(listen);
  const httpListen = options.httpListen ?? (source === "acme" ? DEFAULT_HTTP_LISTEN : undefined);
  if (httpListen !== undefined) {
    parseListen(httpListen);
    if (parseListen(httpListen).port === parseListen(listen).port)
      throw new BuckyError(
        "E_USAGE",
        `--http-listen ${httpListen} is the port the gateway serves HTTPS on`,
        "Give plain HTTP another port (80, where ACME looks).",
      );
  }
  refuseAppPorts(zone.db, deviceName, {
    [options.listen === undefined ? "the default --listen" : "--listen"]: listen,
    [options.httpListen === undefined ? "the default --http-listen" : "--http-listen"]: httpListen,
  });
  const acmeDirectory =
    source === "acme" ? (options.acmeDirectory ?? defaults.acmeDirectory) : undefined;
  if (acmeDirectory !== undefined && !/^https:\/\/[^\s]+$/.test(acmeDirectory))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `--acme-directory ${JSON.stringify(acmeDirectory)} is not an https:// URL`,
      "For example: --acme-directory https://acme-v02.api.letsencrypt.org/directory",
    );
  let tls: TlsPem | undefined;
  if (options.certFile && options.keyFile) {
    const [cert, key] = [
      [options.certFile, "CERTIFICATE"],
      [options.keyFile, "PRIVATE KEY"],
    ].map(([file, marker]) => {
      const text = existsSync(file as string) ? readFileSync(file as string, "utf8") : "";
      if (!text.includes(marker as string)) {
        throw new BuckyError(
          "E_INVALID_INPUT",
          `${file} is not a PEM file holding a ${(marker as string).toLowerCase()}`,
        );
      }
      return text;
    }) as [string, string];
    tls = { cert, key };
  }
  const config: GatewayConfig = {
    listen,
    host,
    https: source !== undefined,
    ...(source && source !== "files" ? { tls: source } : {}),
    ...(httpListen ? { httpListen } : {}),
    ...(acmeDirectory ? { acmeDirectory } : {}),
  };
  runner.adopt(config, tls);
  try {
    if (source === "acme") {
      const eabFile = join(paths.home, "gateway", "acme", "eab.json");
      if (options.eab) {
        mkdirSync(join(paths.home, "gateway", "acme"), { recursive: true, mode: 0o700 });
        writeFileAtomic(eabFile, JSON.stringify(options.eab), 0o600);
      }
    }
    const files = tlsFiles(paths);
    if (tls) {
      mkdirSync(join(paths.home, "gateway"), { recursive: true, mode: 0o700 });
      writeFileAtomic(files.cert, tls.cert, 0o600);
      writeFileAtomic(files.key, tls.key, 0o600);
    } else {
      rmSync(files.cert, { force: true });
      rmSync(files.key, { force: true });
    }
    zone.write([
      { key: gatewayKey(deviceName), value: JSON.stringify(config) },
      ...(hasValue(zone.db, relayOnlyKey(deviceName))
        ? [{ key: relayOnlyKey(deviceName), value: null }]
        : []),
    ]);
  } catch (error) {
    // Not kept (a full disk): what runs goes back to what the state says.
    runner.apply();
    throw error;
  }
  zone.log.info("gateway enabled", {
    listen,
    host: host ?? undefined,
    https: config.https,
    certificates: source,
  });
  return config;
}

/**
 * Where the certificates come from: the files given; else as asked; else (auto) ACME for
 * a public host name, the zone CA for a local one (`.local`, `.lan`…), none without a name.
 */
function certificateSource(
  options: GatewayRequest,
  host: string | null,
): CertificateSource | undefined {
  const files = options.certFile !== undefined || options.keyFile !== undefined;
  const asked = options.tls ?? "auto";
  if (!["auto", "acme", "zone", "off"].includes(asked))
    throw new BuckyError(
      "E_USAGE",
      `--tls ${JSON.stringify(asked)} is not auto, acme, zone or off`,
      "Leave it out: a public host name gets ACME certificates, a local one the zone CA's.",
    );
  if (files) {
    if (asked !== "auto")
      throw new BuckyError(
        "E_USAGE",
        `--tls ${asked} and --tls-cert go against each other`,
        "Give certificate files, or let the gateway get its own.",
      );
    return "files";
  }
  const local = host === null || isLocalName(host);
  if (asked === "off") return undefined;
  if (asked === "acme") {
    if (host === null || local)
      throw new BuckyError(
        "E_USAGE",
        host === null
          ? "ACME certificates need a host name"
          : `${host} is not a name on the internet: an ACME CA cannot check it`,
        host === null
          ? "Give the gateway's public name: --host home.example.com"
          : "Use --tls zone: the zone's own CA certifies local names.",
      );
    return "acme";
  }
  if (asked === "zone") {
    if (!local)
      throw new BuckyError(
        "E_USAGE",
        `the zone CA certifies only local names (${LOCAL_SUFFIXES.map((suffix) => `.${suffix}`).join(", ")}), not ${host}`,
        "A public name gets its certificate over ACME: leave out --tls.",
      );
    return "zone";
  }
  if (host === null) return undefined;
  return local ? "zone" : "acme";
}

export function disableGateway(zone: ZoneWriter, deviceName: string): { disabled: boolean } {
  // The apps' ports stay (lib/gateway/app-ports.ts): switched on again, each app has its
  // own, and none another's origin. Only a gateway lists them (appAddresses).
  const keys = [gatewayKey(deviceName), relayOnlyKey(deviceName)].filter((key) =>
    hasValue(zone.db, key),
  );
  if (keys.length === 0) return { disabled: false };
  zone.write(keys.map((key) => ({ key, value: null })));
  zone.log.info("gateway disabled", {});
  return { disabled: true };
}

/**
 * Makes this device a relay for devices of any zone that cannot be called, and nothing
 * else: it stops serving apps. It learns who talks to whom and how much, never what.
 */
export function enableRelayOnly(zone: ZoneWriter, deviceName: string): void {
  const ops: Op[] = [{ key: relayOnlyKey(deviceName), value: JSON.stringify({ anyZone: true }) }];
  // The apps' ports stay, as when it is disabled.
  if (hasValue(zone.db, gatewayKey(deviceName)))
    ops.push({ key: gatewayKey(deviceName), value: null });
  if (!hasValue(zone.db, relayOnlyKey(deviceName)) || ops.length > 1) {
    zone.write(ops);
    zone.log.info("relay-only gateway enabled", {});
  }
}

export function isRelayOnly(db: StateReader, deviceName: string): boolean {
  return hasValue(db, relayOnlyKey(deviceName));
}

function hasValue(db: StateReader, key: string): boolean {
  return Boolean(stateValue(db, key));
}
