import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { decodeChangeset, verifyChangeset } from "../protocol/changeset.ts";
import { verifyDeviceDocument, verifyZoneDocument } from "../protocol/documents.ts";
import { verifyKeyFromPublicKey } from "../protocol/ed25519.ts";
import { publicKeyOfId, type ZoneId } from "../protocol/ids.ts";
import { checkPhrase } from "../protocol/phrase.ts";
import { bucky, buckyJson, cleanUp, jsonError, newHomePath } from "./harness.ts";

afterAll(cleanUp);

interface InitJson {
  zone: { id: string; name: string };
  device: { id: string; name: string };
  home: string;
  created: boolean;
  recovered: boolean;
  recoveryPhrase?: string;
}

const ZONE_ID = /^z[a-z2-7]{52}$/;
const DEVICE_ID = /^d[a-z2-7]{52}$/;

describe("bucky init", () => {
  test("creates a zone and prints its identity and recovery phrase as JSON", async () => {
    const home = newHomePath();
    const result = await buckyJson<InitJson>([
      "init",
      "--home",
      home,
      "--name",
      "family",
      "--device",
      "nas",
    ]);
    expect(result.zone.id).toMatch(ZONE_ID);
    expect(result.device.id).toMatch(DEVICE_ID);
    expect(result).toEqual({
      zone: { id: result.zone.id, name: "family" },
      device: { id: result.device.id, name: "nas" },
      home,
      created: true,
      recovered: false,
      recoveryPhrase: result.recoveryPhrase as string,
    });
    expect(result.recoveryPhrase?.split(" ")).toHaveLength(24);
  });

  test("writes key files readable only by their owner", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    expect(readdirSync(join(home, "identity")).sort()).toEqual([
      "backup.key",
      "device.key",
      "owner.key",
    ]);
    for (const key of ["owner.key", "device.key", "backup.key"]) {
      expect(statSync(join(home, "identity", key)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(join(home, "identity")).mode & 0o777).toBe(0o700);
  });

  test("stores the documents as the device's first signed changeset", async () => {
    const home = newHomePath();
    const init = await buckyJson<InitJson>(["init", "--home", home, "--device", "laptop"]);
    const db = new Database(join(home, "state.db"), { readonly: true });
    const rows = db
      .query<{ author: string; seq: number; bytes: Uint8Array }, []>(
        "SELECT author, seq, bytes FROM changesets",
      )
      .all();
    db.close();

    expect(rows.map((row) => [row.author, row.seq])).toEqual([[init.device.id, 1]]);
    const changeset = decodeChangeset(rows[0]?.bytes as Uint8Array);
    verifyChangeset(
      changeset,
      verifyKeyFromPublicKey(publicKeyOfId(init.device.id, "device") as Uint8Array),
    );
    expect(changeset.prev).toBeNull();
    expect(changeset.zone).toBe(init.zone.id as ZoneId);
    expect(changeset.ops.map((op) => op.key)).toEqual(["boot/config", "devices/laptop/doc"]);

    const [zoneOp, deviceOp] = changeset.ops;
    const zone = verifyZoneDocument(JSON.parse(zoneOp?.value as string), init.zone.id as ZoneId);
    const device = verifyDeviceDocument(JSON.parse(deviceOp?.value as string), zone.id);
    expect([zone.name, device.name, device.id] as string[]).toEqual([
      "home",
      "laptop",
      init.device.id,
    ]);
  });

  test("refuses a home that already has a zone and changes nothing", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const before = snapshot(home);

    const again = await bucky(["init", "--home", home, "--json"]);
    expect(again.exitCode).toBe(1);
    expect(again.stdout).toBe("");
    expect(jsonError(again)).toEqual({
      code: "E_EXISTS",
      message: `${home} already has a zone; nothing was changed`,
      hint: `See it with \`bucky status --home ${home}\`. For another zone or device, use another --home.`,
    });
    expect(snapshot(home)).toEqual(before);
  });

  test("--if-missing creates a zone once, then verifies it and changes nothing", async () => {
    const home = newHomePath();
    const first = await buckyJson<InitJson>(["init", "--if-missing", "--home", home]);
    expect(first.created).toBe(true);
    const before = snapshot(home);

    const second = await buckyJson<InitJson>(["init", "--if-missing", "--home", home]);
    expect(second).toEqual({
      zone: first.zone,
      device: first.device,
      home,
      created: false,
      recovered: false,
    });
    expect(snapshot(home)).toEqual(before);
  });

  test("finds its home through BUCKY_HOME when --home is absent", async () => {
    const home = newHomePath();
    const init = await buckyJson<InitJson>(["init"], { env: { BUCKY_HOME: home } });
    const status = await buckyJson<{ zone: { id: string } }>(["status", "--home", home]);
    expect(status.zone.id).toBe(init.zone.id);
  });

  test("logs the new zone to the home's log file, without the recovery phrase", async () => {
    const home = newHomePath();
    const result = await bucky(["init", "--home", home]);
    expect(result.exitCode).toBe(0);
    const phrase = result.stdout.match(/(?:^\s+\d+\. \w+.*$\n?)+/m)?.[0] ?? "";
    const words = [...phrase.matchAll(/\d+\. (\w+)/g)].map((m) => m[1] as string);
    expect(words).toHaveLength(24);

    const lines = readFileSync(join(home, "logs", "bucky.log"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => [line.level, line.msg])).toEqual([["info", "zone created"]]);
    const everythingLogged = readFileSync(join(home, "logs", "bucky.log"), "utf8") + result.stderr;
    // Any four consecutive words of the phrase would be a leak; single common words are not.
    for (let i = 0; i + 4 <= words.length; i++) {
      expect(everythingLogged).not.toContain(words.slice(i, i + 4).join(" "));
    }
  });
});

describe("bucky init --recover", () => {
  test("re-creates the same owner identity and zone id from the phrase", async () => {
    const original = await buckyJson<InitJson>([
      "init",
      "--home",
      newHomePath(),
      "--name",
      "family",
    ]);
    const home = newHomePath();
    const recovered = await buckyJson<InitJson>(
      ["init", "--recover", "--home", home, "--name", "family"],
      {
        stdin: `  ${original.recoveryPhrase?.toUpperCase()}\n`,
      },
    );
    expect(recovered.zone).toEqual(original.zone);
    expect(recovered.recovered).toBe(true);
    expect(recovered.recoveryPhrase).toBeUndefined();
    // The device is new: device keys never derive from the phrase.
    expect(recovered.device.id).not.toBe(original.device.id);
    expect(readFileSync(join(home, "identity", "owner.key"), "utf8")).toBe(
      readFileSync(join(original.home, "identity", "owner.key"), "utf8"),
    );
  });

  test("refuses a phrase with a bad checksum and writes nothing", async () => {
    const original = await buckyJson<InitJson>(["init", "--home", newHomePath()]);
    // Two words swapped: the first such swap whose checksum fails (the checksum is 8 bits,
    // so one swap in 256 keeps it, and a test taking the first swap failed that often).
    const words = (original.recoveryPhrase as string).split(" ");
    const swapped = words.slice(1).flatMap((_, at) => {
      const candidate = [...words];
      [candidate[0], candidate[at + 1]] = [words[at + 1] as string, words[0] as string];
      return checkPhrase(candidate.join(" ")).ok ? [] : [candidate.join(" ")];
    })[0] as string;
    const home = newHomePath();
    const result = await bucky(["init", "--recover", "--home", home, "--json"], {
      stdin: swapped,
    });
    expect(result.exitCode).toBe(2);
    expect(jsonError(result).code).toBe("E_INVALID_INPUT");
    expect(jsonError(result).message).toContain("checksum");
    expect(() => statSync(home)).toThrow();
  });

  test("names a mistyped word and suggests the right one", async () => {
    const phrase = `${"abandon ".repeat(23)}art`.replace("abandon", "abandn");
    const result = await bucky(["init", "--recover", "--home", newHomePath()], { stdin: phrase });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('word 1 "abandn" (did you mean "abandon"?)');
  });

  test("refuses a phrase with the wrong number of words", async () => {
    const result = await bucky(["init", "--recover", "--home", newHomePath(), "--json"], {
      stdin: "abandon art",
    });
    expect(result.exitCode).toBe(2);
    expect(jsonError(result).message).toBe(
      "invalid recovery phrase: a recovery phrase has 24 words; this one has 2",
    );
  });
});

/** Every file under `dir` with its bytes and mode, to show that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile())
      files[path] = `${statSync(path).mode.toString(8)}:${readFileSync(path).toString("base64")}`;
  }
  return files;
}
