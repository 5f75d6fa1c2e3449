/**
 * A Docker Compose file of one service, as app stores publish them (Umbrel, CasaOS), turned
 * into a bucky manifest: its image, its HTTP port (the container side of its first TCP
 * port), its volumes as data directories, its environment, command, read-only root and
 * limits. Everything else is listed, each with why, so the person importing it knows what
 * to check; nothing is silently lost. An app of several services is refused (bucky runs one
 * container per app, for now).
 *
 * This reads the parsed document (lib/ parses the YAML) and writes the manifest as its
 * file says it, for checkManifest to check like any other.
 */
import { parseImageRef } from "./image-ref.ts";
import { suggestName } from "./names.ts";
import { isRecord } from "./shape.ts";

export type ComposeImport =
  | { readonly ok: true; readonly manifest: Record<string, unknown>; readonly dropped: string[] }
  | {
      readonly ok: false;
      readonly reason: string;
      /** What to do, where it is more than "give a compose file of one service". */
      readonly hint?: string;
    };

/** Host paths an app never gets, whatever a compose file binds. */
const HOST_ONLY = [
  "/var/run",
  "/run",
  "/dev",
  "/proc",
  "/sys",
  "/etc",
  "/usr",
  "/lib",
  "/bin",
  "/sbin",
  "/boot",
  "/root",
  "/home",
];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.]{0,127}$/;
const DATA_NAME = /^[a-z0-9][a-z0-9._-]*$/;
const TOP_LEVEL = new Set(["services", "version", "name", "volumes", "networks"]);
/** Service keys bucky has no use for: said once, with why. */
const NOT_CARRIED: Record<string, string> = {
  entrypoint: "bucky keeps the image's own entrypoint",
  user: "the app runs as a user of its own",
  healthcheck: 'bucky checks an HTTP path instead: add "health": {"path": "/"} to the manifest',
  privileged: "apps get no privileges",
  cap_add: "apps get no capabilities",
  devices: "apps get no devices of the host",
  network_mode: "an app has a network of its own",
  networks: "an app has a network of its own",
  extra_hosts: "an app has a network of its own",
  dns: "an app has a network of its own",
  sysctls: "apps do not set the kernel's settings",
  security_opt: "bucky sets the container's security itself",
  ulimits: "bucky sets the container's limits itself",
  pid: "an app sees its own processes only",
  ipc: "an app shares nothing with the host",
  depends_on: "it is the app's only service",
  links: "it is the app's only service",
  secrets: "secrets are not carried over: put them in run.env",
  configs: "configs are not carried over: put them in a data directory",
  working_dir: "bucky keeps the image's own working directory",
  hostname: "the container is named after the app",
  labels: "labels mean nothing to bucky",
  logging: "the app's output goes to `bucky app logs`",
  stop_signal: "bucky stops an app with the image's own stop signal",
  stop_grace_period: "bucky gives an app 5 s to stop",
  platform: "each device runs the image built for it",
  build: "bucky installs a built image, not its sources",
  tmpfs: "/tmp is the container's own already",
  shm_size: "bucky sets the container's limits itself",
  init: "not needed",
};
/** Service keys that need no word: bucky does what they ask anyway, or they are names. */
const SILENT = new Set(["container_name", "restart", "image", "deploy", "expose"]);

export function composeToManifest(
  value: unknown,
  options: { readonly id?: string; readonly file: string },
): ComposeImport {
  if (!isRecord(value) || !isRecord(value.services))
    return { ok: false, reason: "it is not a compose file: it has no services" };
  const names = Object.keys(value.services);
  if (names.length !== 1)
    return {
      ok: false,
      reason:
        names.length === 0
          ? "it has no services"
          : `it has ${names.length} services (${names.join(", ")}): bucky imports apps of one service for now`,
      ...(names.length > 1 ? { hint: "Multi-service apps come in a later version of bucky." } : {}),
    };
  const serviceName = names[0] as string;
  const service = value.services[serviceName];
  if (!isRecord(service)) return { ok: false, reason: `service ${serviceName} is not a map` };
  if (typeof service.image !== "string" || service.image === "")
    return {
      ok: false,
      reason:
        service.build !== undefined
          ? `service ${serviceName} builds its image from source (build:), which bucky does not: build and push it, then name it in image:`
          : `service ${serviceName} names no image`,
    };
  const image = service.image;
  const ref = parseImageRef(image);
  if (!ref.ok)
    return { ok: false, reason: `its image "${image}" is not an image reference: ${ref.reason}` };

  const dropped: string[] = [];
  const idSource = options.id ?? (typeof value.name === "string" ? value.name : serviceName);
  const id = suggestName(idSource.replace(/[._]/g, "-"));
  if (!id) return { ok: false, reason: `no app id can be made from "${idSource}": name it` };
  const tag = ref.ref.tag;
  const version = tag && tag !== "latest" && /^[0-9A-Za-z.+-]{1,32}$/.test(tag) ? tag : "1";

  const run: Record<string, unknown> = { image };
  const port = httpPort(service, dropped);
  if (port !== undefined) run.port = port;
  const env = environment(service.environment, dropped);
  if (Object.keys(env).length > 0) run.env = env;
  if (service.command !== undefined) {
    const command = commandOf(service.command);
    if (command) run.command = command;
    else dropped.push("command: only a list of strings, or words without quotes, is carried over");
  }
  if (service.read_only === true) run.readOnly = true;
  const data = volumes(service.volumes, dropped);
  const limits = limitsOf(service, dropped);

  for (const key of Object.keys(service)) {
    if (key === "ports" || key === "environment" || key === "command" || key === "read_only")
      continue;
    if (key === "volumes" || key === "mem_limit" || key === "cpus" || key.startsWith("x-"))
      continue;
    if (SILENT.has(key)) continue;
    dropped.push(`${key}: ${NOT_CARRIED[key] ?? "bucky does not know it"}`);
  }
  for (const key of Object.keys(value))
    if (!TOP_LEVEL.has(key) && !key.startsWith("x-"))
      dropped.push(`${key} (at the top): bucky does not know it`);
  if (service.network_mode !== "none")
    dropped.push(
      'network: compose gives a service the network; a bucky app has only its own unless its manifest says "network": "outbound"',
    );

  return {
    ok: true,
    manifest: {
      id,
      version,
      description: `Imported from ${options.file.slice(0, 400)}`,
      run,
      ...(Object.keys(data).length > 0 ? { data } : {}),
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
    },
    dropped,
  };
}

/** The container side of the first TCP port it publishes (or exposes). */
function httpPort(service: Record<string, unknown>, dropped: string[]): number | undefined {
  const ports: number[] = [];
  const list = Array.isArray(service.ports)
    ? service.ports
    : service.ports === undefined
      ? []
      : [service.ports];
  for (const entry of list) {
    const port = containerPort(entry);
    if (port === undefined)
      dropped.push(`ports: ${JSON.stringify(entry)} is not a TCP port bucky can route to`);
    else ports.push(port);
  }
  if (ports.length === 0 && Array.isArray(service.expose))
    for (const entry of service.expose) {
      const port = containerPort(entry);
      if (port !== undefined) ports.push(port);
    }
  const [first, ...rest] = [...new Set(ports)];
  for (const port of rest)
    dropped.push(
      `port ${port}: an app answers HTTP on one port (the first, ${first}), through the gateway`,
    );
  if (first === undefined)
    dropped.push("ports: none, so the app answers no HTTP through the gateway");
  return first;
}

/** "8080:80", "127.0.0.1:8080:80/tcp", "80", 80, {target: 80}: the container's port. */
function containerPort(entry: unknown): number | undefined {
  let text: string;
  if (typeof entry === "number") text = String(entry);
  else if (typeof entry === "string") text = entry;
  else if (isRecord(entry) && (entry.protocol === undefined || entry.protocol === "tcp"))
    text = String(entry.target);
  else return undefined;
  const [spec, protocol] = text.split("/");
  if (protocol !== undefined && protocol !== "tcp") return undefined;
  const target = spec?.split(":").pop() ?? "";
  if (!/^\d{1,5}$/.test(target)) return undefined;
  const port = Number(target);
  return port > 0 && port < 65536 ? port : undefined;
}

function environment(value: unknown, dropped: string[]): Record<string, string> {
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((item): [string, unknown] => {
        const text = String(item);
        const at = text.indexOf("=");
        return at < 0 ? [text, null] : [text.slice(0, at), text.slice(at + 1)];
      })
    : isRecord(value)
      ? Object.entries(value)
      : [];
  const env: Record<string, string> = {};
  for (const [name, raw] of entries) {
    if (!ENV_NAME.test(name) || name.startsWith("BUCKY_")) {
      dropped.push(`environment ${name}: not a name bucky passes on`);
      continue;
    }
    if (raw === null || raw === undefined) {
      dropped.push(
        `environment ${name}: it has no value here (compose takes it from the shell): set it in run.env`,
      );
      continue;
    }
    const text = typeof raw === "string" ? raw : String(raw);
    if (/[\n\r\0]/.test(text)) {
      dropped.push(`environment ${name}: its value has more than one line`);
      continue;
    }
    if (/\$\{?[A-Za-z_]/.test(text))
      dropped.push(
        `environment ${name}: "${text}" refers to variables bucky does not fill in: check its value`,
      );
    env[name] = text;
  }
  return env;
}

function commandOf(value: unknown): string[] | undefined {
  if (Array.isArray(value))
    return value.every((part) => typeof part === "string") ? (value as string[]) : undefined;
  if (typeof value !== "string" || /["'\\$`]/.test(value)) return undefined;
  const words = value.split(/\s+/).filter(Boolean);
  return words.length > 0 ? words : undefined;
}

/** Volumes as data directories: each named after its volume, or its host directory's last part. */
function volumes(value: unknown, dropped: string[]): Record<string, string> {
  const data: Record<string, string> = {};
  for (const entry of Array.isArray(value) ? value : []) {
    let source: string | undefined;
    let target: string | undefined;
    let readOnly = false;
    if (typeof entry === "string") {
      const parts = entry.split(":");
      if (parts.length === 1) target = parts[0];
      else {
        [source, target] = parts as [string, string];
        readOnly = parts[2]?.split(",").includes("ro") === true;
      }
    } else if (isRecord(entry)) {
      if (entry.type === "tmpfs") {
        dropped.push(
          `volume ${String(entry.target)}: a tmpfs is not kept (only /tmp is the container's own)`,
        );
        continue;
      }
      source = typeof entry.source === "string" ? entry.source : undefined;
      target = typeof entry.target === "string" ? entry.target : undefined;
      readOnly = entry.read_only === true;
    }
    if (!target?.startsWith("/")) {
      dropped.push(`volume ${JSON.stringify(entry)}: bucky cannot read where it goes`);
      continue;
    }
    const host = source?.startsWith("/") ? source : undefined;
    if (host && HOST_ONLY.some((dir) => host === dir || host.startsWith(`${dir}/`))) {
      dropped.push(`volume ${source}:${target}: apps get none of the host's own files`);
      continue;
    }
    if (
      /[,:]/.test(target) ||
      target
        .split("/")
        .slice(1)
        .some((part) => part === "" || part === "." || part === "..")
    ) {
      dropped.push(`volume ${target}: not a plain path in the container`);
      continue;
    }
    const base = (source ?? target).split("/").filter(Boolean).pop() ?? "data";
    let name =
      base
        .toLowerCase()
        .replace(/[^a-z0-9._-]+/g, "-")
        .replace(/^[^a-z0-9]+/, "")
        .slice(0, 60) || "data";
    if (!DATA_NAME.test(name)) name = "data";
    for (let n = 2; name in data; n++) name = `${name.replace(/-\d+$/, "")}-${n}`;
    data[name] = target;
    if (readOnly)
      dropped.push(`volume ${target}: read-only in compose; bucky's data directories are writable`);
  }
  return data;
}

function limitsOf(service: Record<string, unknown>, dropped: string[]): Record<string, unknown> {
  const limits: Record<string, unknown> = {};
  const deploy =
    isRecord(service.deploy) && isRecord(service.deploy.resources)
      ? service.deploy.resources.limits
      : undefined;
  const memory = service.mem_limit ?? (isRecord(deploy) ? deploy.memory : undefined);
  if (memory !== undefined) {
    const size = composeSize(memory);
    if (size) limits.memory = size;
    else dropped.push(`memory limit ${JSON.stringify(memory)}: bucky cannot read it`);
  }
  const cpus = service.cpus ?? (isRecord(deploy) ? deploy.cpus : undefined);
  if (cpus !== undefined) {
    const count = Number(cpus);
    if (Number.isFinite(count) && count > 0) limits.cpus = Math.round(count * 100) / 100;
    else dropped.push(`cpus ${JSON.stringify(cpus)}: bucky cannot read it`);
  }
  return limits;
}

/** Compose's sizes ("512m", "1g", "1024k", 1048576) as a manifest's ("512MiB"). */
function composeSize(value: unknown): string | undefined {
  if (typeof value === "number" && Number.isInteger(value) && value > 0) return `${value}B`;
  if (typeof value !== "string") return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg])?b?$/i.exec(value.trim());
  if (!match) return undefined;
  const unit = { b: "B", k: "KiB", m: "MiB", g: "GiB" }[(match[2] ?? "b").toLowerCase() as "b"];
  return `${match[1]}${unit}`;
}
