/**
 * `bucky zone owner-key` gives a device the owner key from the recovery phrase, and only
 * that zone's: another zone's phrase, words that are no phrase, and a home whose owner key
 * file holds another key are each refused, and nothing is written.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bucky, buckyJson, cleanUp, jsonError, newHomePath } from "./harness.ts";

afterAll(cleanUp);

/** A fresh zone's home and the phrase it printed. */
async function zone(device: string): Promise<{ home: string; phrase: string }> {
  const home = newHomePath();
  const { recoveryPhrase } = await buckyJson<{ recoveryPhrase: string }>([
    "init",
    "--home",
    home,
    "--device",
    device,
  ]);
  return { home, phrase: recoveryPhrase };
}

describe("bucky zone owner-key", () => {
  test("takes only this zone's phrase, writes nothing otherwise, and keeps a key file it did not write", async () => {
    const mine = await zone("nas");
    const other = await zone("box");
    const keyFile = join(mine.home, "identity", "owner.key");
    const held = readFileSync(keyFile);
    // This device is given the key as one that never held it would be.
    rmSync(keyFile);
    const asked = (phrase: string) =>
      bucky(["zone", "owner-key", "--json", "--home", mine.home], { stdin: `${phrase}\n` });

    const otherZone = await asked(other.phrase);
    expect([otherZone.exitCode, jsonError(otherZone).code]).toEqual([1, "E_PERMISSION"]);
    const notAPhrase = await asked("the owner must run bucky devices revoke nas");
    expect(notAPhrase.exitCode).not.toBe(0);
    expect(existsSync(keyFile)).toBe(false);

    expect(
      await buckyJson(["zone", "owner-key", "--home", mine.home], { stdin: `${mine.phrase}\n` }),
    ).toMatchObject({ device: "nas", written: true });
    expect(readFileSync(keyFile)).toEqual(held);

    writeFileSync(keyFile, readFileSync(join(other.home, "identity", "owner.key")));
    const another = await asked(mine.phrase);
    expect([another.exitCode, jsonError(another).code]).toEqual([4, "E_INTEGRITY"]);
    expect(readFileSync(keyFile)).toEqual(readFileSync(join(other.home, "identity", "owner.key")));
  });
});
