/**
 * A device's key in its snapshots is sealed to the zone's owner, end to end through
 * `dist/bucky`. Every member holds the backup key (given at join), so a key in the clear
 * in a snapshot would let any member, or a revoked device that kept the key, sign as that
 * device for good. A member restoring the NAS's snapshot into a directory gets the sealed
 * key only; a member home with neither that key nor the owner key is refused and left as
 * it was; a box recovered from the phrase opens it and runs as the NAS. A snapshot of an
 * older bucky (the key in the clear) still restores, and verify says it holds a clear key.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import { LocalBackend } from "../lib/backup/local-backend.ts";
import { Repository } from "../lib/backup/repository.ts";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { openZone } from "../lib/zone/open.ts";
import { decodeTree, encodeTree, type TreeNode } from "../protocol/backup/formats.ts";
import { signSnapshot } from "../protocol/backup/snapshot-signature.ts";
import { toBase64url, toHex } from "../protocol/encoding.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  newHomePath,
  scratchDir,
  startDaemon,
} from "./harness.ts";

afterAll(cleanUp);

const log = createLog({ level: "warn" });

/** What a refused restore may still touch: its log, its backup cache, the daemon lock it held. */
const RUNTIME_FILES = ["logs", "backup", "daemon.lock"];

/** Every file under `dir` (but `skip`ped top-level names), by path, as a hash of its bytes. */
function fileHashes(dir: string, skip: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (at === dir && skip.includes(entry.name)) continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile())
        out[relative(dir, path)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

/** The files under `dir` in which any of `needles` appears. */
function filesHolding(dir: string, needles: readonly Uint8Array[]): string[] {
  return Object.keys(fileHashes(dir)).filter((path) => {
    const bytes = readFileSync(join(dir, path));
    return needles.some((needle) => bytes.indexOf(needle) >= 0);
  });
}

/**
 * `of`'s snapshot filed again, `shiftMs` older, signed by the device of `signer` in its own
 * name: with `clearKey`, as an older bucky took it, that key in the clear at
 * identity/device.key (and no sealed one); without, the tree as it is.
 */
async function refile(
  signer: string,
  repo: string,
  of: string,
  options: { readonly clearKey?: Uint8Array; readonly shiftMs: number },
): Promise<string> {
  const root = readKeyFile(join(signer, "identity", "backup.key"), "backup", log);
  const zone = openZone(signer, log);
  const key = zone.deviceKey;
  const document = zone.device.jws;
  const device = zone.device.name;
  zone.close();
  const repository = await Repository.open(new LocalBackend(repo), root);
  try {
    const genuine = (await repository.snapshots()).find((s) => s.name === of);
    if (!genuine) throw new Error(`no snapshot ${of}`);
    let tree = genuine.snapshot.tree;
    const { clearKey } = options;
    if (clearKey) {
      const top = decodeTree(await repository.readBlob(tree));
      const identity = top.find((node) => node.name === "identity");
      if (identity?.type !== "dir") throw new Error("no identity/ in the snapshot");
      const chunk = await repository.add("data", clearKey);
      const nodes = decodeTree(await repository.readBlob(identity.subtree)).filter(
        (node) => node.name !== "device.key" && node.name !== "device.key.sealed",
      );
      nodes.push({
        name: "device.key",
        type: "file",
        mode: 0o600,
        mtimeNs: "0",
        size: clearKey.length,
        content: [chunk.id],
      });
      const subtree = await repository.add("tree", encodeTree(nodes));
      tree = (
        await repository.add(
          "tree",
          encodeTree(
            top.map(
              (node): TreeNode => (node === identity ? { ...node, subtree: subtree.id } : node),
            ),
          ),
        )
      ).id;
      await repository.flush();
    }
    const filed = {
      ...genuine.snapshot,
      device,
      time: new Date(Date.parse(genuine.snapshot.time) - options.shiftMs).toISOString(),
      tree,
      parent: null,
    };
    delete (filed as { signed?: string }).signed;
    return await repository.writeSnapshot((name) => ({
      ...filed,
      signed: signSnapshot(name, filed, key, document),
    }));
  } finally {
    repository.close();
  }
}

describe("a device's key in the zone's backups", () => {
  let nas: Daemon;
  let nasHome: string;
  let laptopHome: string;
  let phrase: string;
  let repo: string;
  let snapshot: string;
  /** The NAS's key file, and its 32-byte seed in the forms it could be found in. */
  let nasKeyFile: string;
  let nasSeeds: Uint8Array[];

  beforeAll(async () => {
    nasHome = newHomePath();
    ({ recoveryPhrase: phrase } = await buckyJson<{ recoveryPhrase: string }>([
      "init",
      "--home",
      nasHome,
      "--device",
      "nas",
    ]));
    nas = await startDaemon(nasHome);
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", nasHome]);
    laptopHome = newHomePath();
    await buckyJson(["join", token, "--home", laptopHome, "--device", "laptop", "--no-start"]);
    mkdirSync(join(nasHome, "data"), { recursive: true });
    writeFileSync(join(nasHome, "data", "mine.txt"), "the nas's own file\n");
    repo = join(scratchDir(), "disk");
    await buckyJson(["backup", "target", "add", "disk", repo, "--home", nasHome, "--no-backup"]);
    ({ snapshot } = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", nasHome]));
    nasKeyFile = readFileSync(join(nasHome, "identity", "device.key"), "utf8");
    const seed = readKeyFile(join(nasHome, "identity", "device.key"), "device", log);
    nasSeeds = [seed, Buffer.from(toBase64url(seed)), Buffer.from(toHex(seed))];
  }, 60_000);

  test("a member restoring the NAS's snapshot into a directory gets the key sealed, and nowhere in the clear", async () => {
    // The laptop holds the backup key, as every member given it at join does.
    expect(existsSync(join(laptopHome, "identity", "backup.key"))).toBe(true);
    expect(existsSync(join(laptopHome, "identity", "owner.key"))).toBe(false);
    const to = join(scratchDir(), "nas-files");
    const restored = await buckyJson<{ device: string; damaged: string[] }>([
      "backup",
      "restore",
      snapshot.slice(0, 8),
      "--from",
      repo,
      "--to",
      to,
      "--home",
      laptopHome,
    ]);
    expect(restored).toMatchObject({ device: "nas", damaged: [] });
    expect(readFileSync(join(to, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
    expect(readdirSync(join(to, "identity"))).toEqual(["device.key.sealed"]);
    expect(statSync(join(to, "identity", "device.key.sealed")).mode & 0o777).toBe(0o600);
    expect(filesHolding(to, [Buffer.from(nasKeyFile), ...nasSeeds])).toEqual([]);
  }, 60_000);

  test("a member's copy of the NAS's home, filed and signed in its own name, is not restored with the NAS's key", async () => {
    const copy = await refile(laptopHome, repo, snapshot, { shiftMs: 2 * 3_600_000 });
    const fresh = newHomePath();
    await buckyJson(["init", "--recover", "--home", fresh], { stdin: `${phrase}\n` });
    const before = fileHashes(fresh, RUNTIME_FILES);
    const refused = await bucky([
      "backup",
      "restore",
      copy.slice(0, 8),
      "--from",
      repo,
      "--home",
      fresh,
      "--json",
    ]);
    expect(refused.exitCode).toBe(4);
    expect(jsonError(refused)).toMatchObject({
      code: "E_INTEGRITY",
      message: expect.stringMatching(
        /of laptop holds another device's key than the one that signed it/,
      ),
    });
    expect(fileHashes(fresh, RUNTIME_FILES)).toEqual(before);
  }, 60_000);

  test("a home with neither the NAS's key nor the owner key is refused, and left as it was", async () => {
    // The laptop's zone state is damaged and its key gone: nothing says which device it
    // is, and before, a restore of the NAS's snapshot made it the NAS, key and all.
    const db = join(laptopHome, "state.db");
    writeFileSync(db, Buffer.concat([Buffer.alloc(100, 0xff), readFileSync(db).subarray(100)]));
    rmSync(join(laptopHome, "identity", "device.key"));
    const before = fileHashes(laptopHome, RUNTIME_FILES);
    const refused = await bucky([
      "backup",
      "restore",
      snapshot.slice(0, 8),
      "--from",
      repo,
      "--home",
      laptopHome,
      "--json",
    ]);
    expect(refused.exitCode).toBe(1);
    // The error is the last line: a warning that the state is damaged comes first.
    const error = jsonError({ ...refused, stderr: refused.stderr.trim().split("\n").at(-1) ?? "" });
    expect(error).toMatchObject({
      code: "E_PERMISSION",
      message: expect.stringMatching(/sealed to the zone's owner.*the home was left as it was/),
      hint: expect.stringContaining("recovery phrase"),
    });
    expect(fileHashes(laptopHome, RUNTIME_FILES)).toEqual(before);
  }, 60_000);

  test("an older bucky's snapshot, the key in the clear, still restores; verify says it holds one", async () => {
    const older = await refile(nasHome, repo, snapshot, {
      clearKey: new Uint8Array(readFileSync(join(nasHome, "identity", "device.key"))),
      shiftMs: 3_600_000,
    });
    const verified = await buckyJson<{ ok: boolean; clearDeviceKeys: string[] }>([
      "backup",
      "verify",
      "--home",
      nasHome,
    ]);
    expect(verified).toMatchObject({ ok: true, clearDeviceKeys: [older] });
    const text = await bucky(["backup", "verify", "--home", nasHome]);
    expect(text.stdout).toContain(`${older.slice(0, 8)}) hold a device's key in the clear`);

    const fresh = newHomePath();
    await buckyJson(["init", "--recover", "--home", fresh], { stdin: `${phrase}\n` });
    const restored = await buckyJson<{ snapshot: string; device: string }>([
      "backup",
      "restore",
      older.slice(0, 8),
      "--from",
      repo,
      "--home",
      fresh,
    ]);
    expect(restored).toMatchObject({ snapshot: older, device: "nas" });
    expect(readFileSync(join(fresh, "identity", "device.key"), "utf8")).toBe(nasKeyFile);
    expect(existsSync(join(fresh, "identity", "device.key.sealed"))).toBe(false);
  }, 60_000);

  test("a box recovered from the phrase opens the NAS's key and runs as the NAS", async () => {
    await nas.kill(); // the box is lost
    const fresh = newHomePath();
    await buckyJson(["init", "--recover", "--home", fresh], { stdin: `${phrase}\n` });
    const restored = await buckyJson<{ snapshot: string; device: string }>([
      "backup",
      "restore",
      "latest",
      "--from",
      repo,
      "--home",
      fresh,
    ]);
    expect(restored).toMatchObject({ snapshot, device: "nas" });
    expect(readFileSync(join(fresh, "identity", "device.key"), "utf8")).toBe(nasKeyFile);
    expect(statSync(join(fresh, "identity", "device.key")).mode & 0o777).toBe(0o600);
    expect(existsSync(join(fresh, "identity", "device.key.sealed"))).toBe(false);
    expect(readFileSync(join(fresh, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
    const daemon = await startDaemon(fresh);
    const status = await buckyJson<{ device: { name: string; id: string } }>([
      "status",
      "--home",
      fresh,
    ]);
    expect(status.device.name).toBe("nas");
    await daemon.stop();
  }, 60_000);
});
