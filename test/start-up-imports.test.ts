/**
 * `bucky status` with no node running must start fast (issue 20: under 25 ms): it opens
 * the home on the bare SQLite connection and loads none of drizzle, whose modules and
 * schema cost more to evaluate than the whole status read. This test follows the static
 * imports of what that command loads and fails on a module that would bring drizzle (or
 * the gateway's server code, or node:net) back in; code loaded with `await import()` is
 * not followed.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

/**
 * What the commands that read the home themselves load: `bucky status` when no node
 * answers (cmd/status.ts imports the last two then), and `bucky zone show`.
 */
const ENTRIES = [
  "cmd/main.ts",
  "cmd/cli.ts",
  "cmd/status.ts",
  "lib/zone/status.ts",
  "cmd/liveness.ts",
  "cmd/zone/show.ts",
];

// node:net: half a millisecond to load, where status needed one check of an IPv6 address.
const HEAVY = [/^drizzle-orm/, /^hono/, /\/store\/schema\.ts$/, /\/store\/db\.ts$/, /^node:net$/];

/** The modules a file imports at run time: `import type` and all-`type` braces are left out. */
function runtimeImports(file: string): string[] {
  const source = readFileSync(resolve(ROOT, file), "utf8");
  const found: string[] = [];
  for (const match of source.matchAll(
    /(?:^|\n)\s*(import|export)\s+([^;]*?)\s*from\s+["']([^"']+)["']/g,
  )) {
    const clause = match[2] as string;
    if (clause.startsWith("type ")) continue;
    const braces = clause.match(/^\{([^}]*)\}$/);
    const names = braces
      ? (braces[1] as string)
          .split(",")
          .map((n) => n.trim())
          .filter(Boolean)
      : [];
    if (names.length > 0 && names.every((n) => n.startsWith("type "))) continue;
    found.push(match[3] as string);
  }
  for (const match of source.matchAll(/(?:^|\n)\s*import\s+["']([^"']+)["']/g))
    found.push(match[1] as string);
  return found;
}

/** Every module reached from `entries` by run-time imports, as [importer, specifier]. */
function staticClosure(entries: readonly string[]): [string, string][] {
  const seen = new Set<string>();
  const edges: [string, string][] = [];
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const specifier of runtimeImports(file)) {
      edges.push([file, specifier]);
      if (!specifier.startsWith(".")) continue;
      const target = relative(ROOT, resolve(dirname(resolve(ROOT, file)), specifier));
      if (target.endsWith(".ts") && existsSync(resolve(ROOT, target))) queue.push(target);
    }
  }
  return edges;
}

test("bucky status with no node running, and bucky zone show, load no drizzle, schema, hono or node:net", () => {
  const heavy = staticClosure(ENTRIES).filter(([, specifier]) =>
    HEAVY.some((pattern) => pattern.test(specifier)),
  );
  expect(heavy).toEqual([]);
});

test("the walk sees an import that brings drizzle in", () => {
  // lib/zone/open.ts is how everything else opens the zone, with drizzle.
  expect(staticClosure(["lib/zone/open.ts"]).map(([, s]) => s)).toContain("../store/db.ts");
});

/**
 * What a fresh zone's idle daemon has no use for, loaded when first needed (issue 20, its
 * memory): the app store's and backups' routes (lib/node/lazy-routes.ts) with the catalogs,
 * both languages' texts and the recovery phrase's word list; what installs image apps; the
 * panel, the agents' MCP server and ACME.
 */
const DAEMON_LOADS_LATER = [
  /^lib\/node\/(store|backup)-api\.ts$/,
  /^lib\/catalog\/(builtin|catalogs|install|store-view|sources)\.ts$/,
  /^lib\/i18n\/(en|zh-CN)\.ts$/,
  /^lib\/images\/(install|pull|registry|archive)\.ts$/,
  /^lib\/panel\//,
  /^@scure\/bip39/,
  /^acme-client/,
  /^@modelcontextprotocol\//,
];

/** The files (relative to the root) and packages `entries` reach by run-time imports. */
function reached(entries: readonly string[]): string[] {
  return staticClosure(entries).map(([importer, specifier]) =>
    specifier.startsWith(".")
      ? relative(ROOT, resolve(dirname(resolve(ROOT, importer)), specifier))
      : specifier,
  );
}

test("the daemon's start loads none of what an idle daemon does not use", () => {
  const early = reached(["cmd/daemon/run.ts"]).filter((module) =>
    DAEMON_LOADS_LATER.some((pattern) => pattern.test(module)),
  );
  expect([...new Set(early)]).toEqual([]);
});

test("the walk from the daemon's start sees the modules it loads", () => {
  const modules = reached(["cmd/daemon/run.ts"]);
  expect(modules).toContain("lib/node/local-api.ts");
  expect(modules).toContain("lib/gateway/server.ts");
  // What the routes loaded later import, the walk sees too.
  expect(reached(["lib/node/store-api.ts"])).toContain("lib/i18n/zh-CN.ts");
  expect(reached(["lib/node/backup-api.ts"])).toContain("@scure/bip39");
});
