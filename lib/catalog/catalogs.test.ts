/**
 * The zone's catalogs: added only with the publisher's key accepted and the bytes shown,
 * their icons and descriptions kept as named data; updated only by a newer version from
 * the same publisher; the store says which installed app has a newer version, from the
 * catalog it came from only.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  appOriginKey,
  catalogRecordKey,
  catalogRemovalKey,
  encodeAppOrigin,
  encodeCatalogRecord,
} from "../../protocol/catalog-record.ts";
import type { Op } from "../../protocol/changeset.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { publisherIdFromPublicKey } from "../../protocol/ids.ts";
import { appKeys } from "../apps/spec.ts";
import { testSpec } from "../apps/test-spec.ts";
import { refusal } from "../archive/test-archives.ts";
import { writeKeyFile } from "../identity/key-file.ts";
import { createLog } from "../log.ts";
import { storeSource } from "../ndn/fetch.ts";
import { ObjectStore } from "../ndn/store.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode } from "../state/test-db.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import {
  acceptCatalog,
  type CatalogNode,
  CatalogStaging,
  loadCatalog,
  previewCatalog,
  refreshCatalog,
  removeCatalog,
} from "./catalogs.ts";
import { installFromCatalog } from "./install.ts";
import { originPins } from "./origin-pins.ts";
import { publishCatalog } from "./publish.ts";
import { readCatalogRecords } from "./records.ts";
import { compareVersions, findEntry, storeView } from "./store-view.ts";

const NOTES = resolve(import.meta.dir, "../../fixtures/apps/notes");
const scratch = mkdtempSync(join(tmpdir(), "bucky-catalogs-"));
const log = createLog({ level: "silent" });
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let made = 0;
function zoneNode(): CatalogNode {
  const { db, zone, key, seal } = openTestNode(40 + ++made);
  const store = new ObjectStore(join(scratch, `ndn-${made}`));
  return {
    db,
    store,
    deviceName: `d${40 + made}`,
    log,
    now: () => Date.parse("2026-11-28T12:00:00Z"),
    write: (ops: readonly Op[]) =>
      appendLocalChangeset(db, { zone, name: `d${40 + made}`, key, seal }, ops, Date.now()),
    zoneSources: () => [storeSource(store)],
  };
}

/** A catalog of memo (the notes app renamed) at the given versions, by the key in `dir`. */
function publish(dir: string, catalogVersion: number, appVersion: string): string {
  const app = join(dir, `memo-${appVersion}`);
  cpSync(NOTES, app, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(app, "bucky-app.json"), "utf8"));
  writeFileSync(
    join(app, "bucky-app.json"),
    JSON.stringify({ ...manifest, id: "memo", version: appVersion }),
  );
  writeFileSync(join(app, "about.txt"), "Short notes.");
  const spec = join(dir, `catalog-${catalogVersion}.json`);
  writeFileSync(
    spec,
    JSON.stringify({
      name: "test-apps",
      title: { en: "Test apps" },
      version: catalogVersion,
      apps: [
        {
          dir: `memo-${appVersion}`,
          title: { en: "Memo" },
          summary: { en: "Short notes" },
          description: { en: `memo-${appVersion}/about.txt` },
          icon: `memo-${appVersion}/icon.svg`,
        },
      ],
    }),
  );
  const out = join(dir, `out-${catalogVersion}`);
  publishCatalog({ spec, keyFile: join(dir, "publisher.key"), out, log, now: Date.now });
  return out;
}

/** Writes a tar (argv[1]) whose catalog.jws is a FIFO, /dev/zero or a link to argv[3]. */
const TAR_WITH = `
import sys, tarfile
with tarfile.open(sys.argv[1], "w") as tar:
    info = tarfile.TarInfo("catalog.jws")
    if sys.argv[2] == "fifo":
        info.type = tarfile.FIFOTYPE
    elif sys.argv[2] == "device":
        info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 5
    else:
        info.type, info.linkname = tarfile.SYMTYPE, sys.argv[3]
    tar.addfile(info)
`;

describe("catalogs", () => {
  test("one is added with the key shown accepted, its small objects stored; another key adds nothing", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-1"), node.now);
    const dir = join(scratch, "publisher-1");
    mkdirSync(dir);
    const out = publish(dir, 1, "1.0.0");
    const preview = await previewCatalog(node, staging, { kind: "dir", dir: out });
    expect(preview).toMatchObject({ name: "test-apps", version: 1, apps: 1, existing: null });
    const other = publisherIdFromPublicKey(
      signingKeyFromSeed(new Uint8Array(32).fill(9)).publicKey,
    );
    expect(await refusal(acceptCatalog(node, staging, preview.token, other))).toContain(
      "not by the accepted publisher",
    );
    // A refused token is spent: the catalog must be read again.
    expect(await refusal(acceptCatalog(node, staging, preview.token, preview.publisher))).toContain(
      "E_NOT_FOUND",
    );
    const again = await previewCatalog(node, staging, { kind: "dir", dir: out });
    const record = await acceptCatalog(node, staging, again.token, again.publisher);
    expect(record).toMatchObject({
      name: "test-apps",
      version: 1,
      publisher: preview.publisher,
      source: null,
    });
    const view = await storeView(node);
    const memo = view.apps.find((a) => a.id === "memo");
    expect(memo).toMatchObject({
      catalog: "test-apps",
      version: "1.0.0",
      installed: null,
      update: false,
    });
    // Browsing needs nothing from the source: icon, description and package are stored.
    for (const id of [memo?.icon, memo?.description.en])
      expect(node.store.readObject(id as never)).toBeDefined();
  });

  test("a catalog removed while its update is fetched stays removed", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-removed"), node.now);
    const dir = join(scratch, "publisher-removed");
    mkdirSync(dir);
    const v1 = publish(dir, 1, "1.0.0");
    const first = await previewCatalog(node, staging, { kind: "dir", dir: v1 });
    await acceptCatalog(node, staging, first.token, first.publisher);
    const v2 = publish(dir, 2, "2.0.0");
    const update = await previewCatalog(node, staging, { kind: "dir", dir: v2 });
    const accepting = acceptCatalog(node, staging, update.token, update.publisher);
    // The owner removes it (here, or on another device) while the new objects are fetched.
    removeCatalog(node, "test-apps");
    expect(await refusal(accepting)).toContain(
      "catalog test-apps was removed while its update was fetched: nothing was added",
    );
    expect(readCatalogRecords(node.db)).toEqual([]);
  });

  test("a removal here and a refresh on another device at once, written after it: still removed, until the owner adds it again", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-removed-refresh"), node.now);
    const dir = join(scratch, "publisher-removed-refresh");
    mkdirSync(dir);
    const add = async (out: string) => {
      const p = await previewCatalog(node, staging, { kind: "dir", dir: out });
      return acceptCatalog(node, staging, p.token, p.publisher);
    };
    const first = await add(publish(dir, 1, "1.0.0"));
    removeCatalog(node, "test-apps");
    // The other device's refresh, from the record it had: the whole record, written later.
    const refreshed = { ...first, version: 2, updatedAt: new Date(node.now()).toISOString() };
    node.write([{ key: catalogRecordKey("test-apps"), value: encodeCatalogRecord(refreshed) }]);
    expect(readCatalogRecords(node.db)).toEqual([]);
    expect((await storeView(node)).apps.filter((a) => a.catalog === "test-apps")).toEqual([]);
    // Added again by the owner: back.
    expect(await add(publish(dir, 3, "1.1.0"))).toMatchObject({ name: "test-apps", version: 3 });
    expect(readCatalogRecords(node.db).map((r) => r.version)).toEqual([3]);
    // A removal a member wrote not of a removal's shape hides nothing.
    for (const value of ['"test-apps"', '{"publisher":5}', "[1]"]) {
      node.write([{ key: catalogRemovalKey("test-apps"), value }]);
      expect(readCatalogRecords(node.db).map((r) => r.version)).toEqual([3]);
    }
  });

  test("a newer version from the same publisher replaces it; an older one or another publisher's does not", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-2"), node.now);
    const dir = join(scratch, "publisher-2");
    mkdirSync(dir);
    const v1 = publish(dir, 1, "1.0.0");
    const v2 = publish(dir, 2, "1.1.0");
    const add = async (out: string) => {
      const p = await previewCatalog(node, staging, { kind: "dir", dir: out });
      return acceptCatalog(node, staging, p.token, p.publisher);
    };
    await add(v2);
    expect(await refusal(add(v1))).toContain("not newer than the zone's version 2");
    expect(await refusal(add(v2))).toContain("not newer");
    const stranger = join(scratch, "publisher-3");
    mkdirSync(stranger);
    writeKeyFile(join(stranger, "publisher.key"), "publisher", new Uint8Array(32).fill(3));
    expect(await refusal(add(publish(stranger, 3, "9.0.0")))).toContain("from another publisher");
  });

  test("an installed app has an update only from the catalog it came from", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-4"), node.now);
    const dir = join(scratch, "publisher-4");
    mkdirSync(dir);
    const p = await previewCatalog(node, staging, { kind: "dir", dir: publish(dir, 1, "1.1.0") });
    await acceptCatalog(node, staging, p.token, p.publisher);
    const spec = testSpec("memo");
    node.write([{ key: appKeys.spec("memo"), value: JSON.stringify(spec) }]);
    const memo = async () => (await storeView(node)).apps.find((a) => a.id === "memo");
    expect(await memo()).toMatchObject({
      installed: { version: "1.0.0", from: null },
      update: false,
    });
    node.write([
      {
        key: appOriginKey("memo"),
        value: encodeAppOrigin({ catalog: "test-apps", publisher: p.publisher }),
      },
    ]);
    expect(await memo()).toMatchObject({
      installed: { version: "1.0.0", from: "test-apps" },
      update: true,
    });
  });

  test("an origin an older bucky wrote offers no update until it is pinned, and is pinned only by an index listing the package the app runs", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-11"), node.now);
    const dir = join(scratch, "publisher-11");
    mkdirSync(dir);
    const p = await previewCatalog(node, staging, { kind: "dir", dir: publish(dir, 1, "1.1.0") });
    await acceptCatalog(node, staging, p.token, p.publisher);
    const listed = (await storeView(node)).apps.find((a) => a.id === "memo");
    const memo = async () => (await storeView(node)).apps.find((a) => a.id === "memo");
    // memo 1.0.0 runs from a package this catalog does not list; its origin names the
    // catalog alone, as a bucky before publishers were recorded wrote it.
    node.write([
      { key: appKeys.spec("memo"), value: JSON.stringify(testSpec("memo")) },
      { key: appOriginKey("memo"), value: JSON.stringify({ v: 1, catalog: "test-apps" }) },
    ]);
    expect(await memo()).toMatchObject({ installed: { from: "test-apps" }, update: false });
    expect(originPins(node.db, node.store)).toEqual([]);
    // Once the app runs the very package the catalog's signed entry names, it is pinned.
    const { entry } = await findEntry(node, "test-apps", "memo");
    node.write([
      {
        key: appKeys.spec("memo"),
        value: JSON.stringify(
          testSpec("memo", { version: listed?.version, package: entry.package ?? undefined }),
        ),
      },
    ]);
    expect(originPins(node.db, node.store)).toEqual([
      {
        key: appOriginKey("memo"),
        value: encodeAppOrigin({ catalog: "test-apps", publisher: p.publisher }),
      },
    ]);
  });

  test("an app installed from elsewhere is not replaced by another catalog's app of its id", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-6"), node.now);
    const dir = join(scratch, "publisher-6");
    mkdirSync(dir);
    const p = await previewCatalog(node, staging, { kind: "dir", dir: publish(dir, 1, "9.0.0") });
    await acceptCatalog(node, staging, p.token, p.publisher);
    // memo runs, installed from a package of its own; then from another catalog.
    const spec = testSpec("memo");
    node.write([{ key: appKeys.spec("memo"), value: JSON.stringify(spec) }]);
    // Whatever reaches the install itself would replace memo's code, keeping its data.
    const installs = new Proxy({} as ZoneWriter, {
      get: () => {
        throw new Error("memo was installed over");
      },
    });
    const install = () => installFromCatalog(installs, node, { catalog: "test-apps", app: "memo" });
    expect(await refusal(install())).toBe(
      "E_EXISTS: memo is installed already, from a package of its own, not from catalog test-apps: that catalog's memo would take over its data",
    );
    node.write([
      {
        key: appOriginKey("memo"),
        value: encodeAppOrigin({ catalog: "other-apps", publisher: p.publisher }),
      },
    ]);
    expect(await refusal(install())).toContain(
      "from catalog other-apps, not from catalog test-apps",
    );
  });

  test("a catalog file whose index is a FIFO, a device or a link is refused as it is unpacked, nothing left", async () => {
    const node = zoneNode();
    const uploads = join(scratch, "uploads-7");
    const staging = new CatalogStaging(uploads, node.now);
    const dir = join(scratch, "publisher-7");
    mkdirSync(dir);
    const out = publish(dir, 1, "1.0.0");
    // A publisher's archive may hold anything tar makes: a FIFO that blocks whoever reads
    // it (the whole daemon, read synchronously), /dev/zero, a link to a file elsewhere.
    const tarWith = (kind: string) => {
      const tar = join(dir, `${kind}.tar`);
      const made = Bun.spawnSync(["python3", "-c", TAR_WITH, tar, kind, join(out, "catalog.jws")]);
      expect(made.exitCode).toBe(0);
      return new Uint8Array(readFileSync(tar));
    };
    for (const [kind, is] of [
      ["fifo", "a FIFO"],
      ["device", "a character device"],
      ["link", "a symbolic link"],
    ]) {
      expect(await refusal(staging.unpack(tarWith(kind as string)))).toBe(
        `E_INVALID_INPUT: that catalog file holds catalog.jws, ${is}: a catalog file holds only plain files and directories`,
      );
      expect(readdirSync(uploads)).toEqual([]);
    }
  });

  test("a catalog file packed by tar is previewed as its directory", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-8"), node.now);
    const dir = join(scratch, "publisher-8");
    mkdirSync(dir);
    publish(dir, 1, "1.0.0");
    const file = join(dir, "catalog.tar.gz");
    expect(Bun.spawnSync(["tar", "-czf", file, "-C", dir, "out-1"]).exitCode).toBe(0);
    const { source, unpacked } = await staging.unpack(new Uint8Array(readFileSync(file)));
    const preview = await previewCatalog(node, staging, source, unpacked);
    expect(preview).toMatchObject({ name: "test-apps", version: 1, apps: 1, source: "file" });
    await acceptCatalog(node, staging, preview.token, preview.publisher);
    expect(readCatalogRecords(node.db).map((r) => [r.name, r.version])).toEqual([["test-apps", 1]]);
  });

  test("a record naming another version's index is refused, whether that index was loaded before or not", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-9"), node.now);
    const dir = join(scratch, "publisher-9");
    mkdirSync(dir);
    const preview = await previewCatalog(node, staging, {
      kind: "dir",
      dir: publish(dir, 1, "1.0.0"),
    });
    const record = await acceptCatalog(node, staging, preview.token, preview.publisher);
    const claimsNewer = { ...record, version: 5 };
    expect(await refusal(loadCatalog(node, claimsNewer))).toContain("not version 5");
    expect((await loadCatalog(node, record)).version).toBe(1);
    expect(await refusal(loadCatalog(node, claimsNewer))).toContain("not version 5");
  });

  test("two versions added at once: the zone ends with the newer, whichever is stored last", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-10"), node.now);
    const dir = join(scratch, "publisher-10");
    mkdirSync(dir);
    const [v2, v3] = [publish(dir, 2, "1.1.0"), publish(dir, 3, "1.2.0")];
    const p3 = await previewCatalog(node, staging, { kind: "dir", dir: v3 });
    const p2 = await previewCatalog(node, staging, { kind: "dir", dir: v2 });
    await Promise.allSettled([
      acceptCatalog(node, staging, p3.token, p3.publisher),
      acceptCatalog(node, staging, p2.token, p2.publisher),
    ]);
    expect(readCatalogRecords(node.db).map((r) => [r.name, r.version])).toEqual([["test-apps", 3]]);
  });

  test("a catalog from a file has no address to refresh from", async () => {
    const node = zoneNode();
    const staging = new CatalogStaging(join(scratch, "uploads-5"), node.now);
    const dir = join(scratch, "publisher-5");
    mkdirSync(dir);
    const p = await previewCatalog(node, staging, { kind: "dir", dir: publish(dir, 1, "1.0.0") });
    await acceptCatalog(node, staging, p.token, p.publisher);
    expect(await refusal(refreshCatalog(node, "test-apps"))).toContain("added from a file");
  });

  test("versions compare as people number them", () => {
    expect(compareVersions("1.10.0", "1.9.2")).toBe(1);
    expect(compareVersions("1.0.0", "1.0.0")).toBe(0);
    // A pre-release is before its release; build metadata orders nothing.
    expect(compareVersions("3.0.0", "3.0.0-beta")).toBe(1);
    expect(compareVersions("1.0.0-rc1", "1.0.0")).toBe(-1);
    expect(compareVersions("1.0.0-beta.2", "1.0.0-beta.10")).toBe(-1);
    expect(compareVersions("1.0.0+build7", "1.0.0")).toBe(0);
    expect(compareVersions("1.0.1-alpha", "1.0.0")).toBe(1);
    expect(compareVersions("1.0", "1.0.1")).toBe(-1);
    expect(compareVersions("2.0.0-beta", "2.0.0-alpha")).toBe(1);
  });
});
