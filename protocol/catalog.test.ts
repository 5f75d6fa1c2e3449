/** App catalogs: whose they are, what a valid one holds, and what is refused. */
import { describe, expect, test } from "bun:test";
import { type CatalogFields, objectIn, signCatalog, textIn, verifyCatalog } from "./catalog.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { publisherIdFromPublicKey } from "./ids.ts";
import { signJws } from "./jws.ts";
import type { AppName } from "./names.ts";
import type { ObjectId } from "./ndn.ts";
import { refusal } from "./test-refusal.ts";

const publisher = signingKeyFromSeed(new Uint8Array(32).fill(1));
const other = signingKeyFromSeed(new Uint8Array(32).fill(2));
const pkg = `sha256:${"ab".repeat(32)}` as ObjectId;

const fields: CatalogFields = {
  name: "example-apps",
  title: { en: "Example apps", "zh-CN": "示例应用" },
  version: 3,
  issuedAt: 1_767_225_600,
  apps: [
    {
      id: "notes" as AppName,
      version: "1.0.0",
      title: { en: "Notes", "zh-CN": "笔记" },
      summary: { en: "Notes kept in SQLite" },
      description: { en: `sha256:${"cd".repeat(32)}` as ObjectId },
      icon: null,
      manifest: { id: "notes", version: "1.0.0", run: { command: ["bun", "server.ts"] } },
      package: pkg,
      image: null,
    },
  ],
};

/** A catalog payload as signed, with `change` applied, by `key`. */
function signedRaw(change: (payload: Record<string, unknown>) => void, key = publisher): string {
  const payload: Record<string, unknown> = JSON.parse(
    Buffer.from(signCatalog(fields, key).jws.split(".")[1] as string, "base64url").toString(),
  );
  change(payload);
  return signJws(
    { alg: "EdDSA", typ: "bucky-catalog/1", kid: publisherIdFromPublicKey(key.publicKey) },
    payload,
    key,
  );
}

describe("app catalogs", () => {
  test("name their publisher by its key, and verify for it", () => {
    const catalog = signCatalog(fields, publisher);
    expect(catalog.publisher).toBe(publisherIdFromPublicKey(publisher.publicKey));
    expect(catalog.publisher).toMatch(/^p[a-z2-7]{52}$/);
    expect(verifyCatalog(catalog.jws)).toEqual(catalog);
  });

  test("signed by another key than the one accepted: refused", () => {
    const catalog = signCatalog(fields, other);
    expect(
      refusal(() => verifyCatalog(catalog.jws, publisherIdFromPublicKey(publisher.publicKey))),
    ).toContain("not by the accepted publisher");
  });

  test("a kid that names another key than the one that signed: refused", () => {
    const [, payload, signature] = signCatalog(fields, other).jws.split(".");
    const header = Buffer.from(
      JSON.stringify({
        alg: "EdDSA",
        typ: "bucky-catalog/1",
        kid: publisherIdFromPublicKey(publisher.publicKey),
      }),
    ).toString("base64url");
    expect(refusal(() => verifyCatalog(`${header}.${payload}.${signature}`))).toContain(
      "signature does not verify",
    );
  });

  test("an app listed twice, a manifest of another app, or neither package nor image: refused", () => {
    expect(
      refusal(() =>
        verifyCatalog(
          signedRaw((p) => p.apps && (p.apps as unknown[]).push((p.apps as unknown[])[0])),
        ),
      ),
    ).toContain("lists an app twice");
    expect(
      refusal(() =>
        verifyCatalog(
          signedRaw((p) => {
            ((p.apps as Record<string, unknown>[])[0] as Record<string, unknown>).manifest = {
              id: "other",
              version: "1.0.0",
            };
          }),
        ),
      ),
    ).toContain("manifest is not of notes 1.0.0");
    expect(
      refusal(() =>
        verifyCatalog(
          signedRaw((p) => {
            delete ((p.apps as Record<string, unknown>[])[0] as Record<string, unknown>).package;
          }),
        ),
      ),
    ).toContain("names a package or an image");
  });

  test("a field it does not know, or no English text: refused", () => {
    expect(
      refusal(() => verifyCatalog(signedRaw((p) => Object.assign(p, { extra: 1 })))),
    ).toContain('unknown field "extra"');
    expect(
      refusal(() =>
        verifyCatalog(signedRaw((p) => Object.assign(p, { title: { "zh-CN": "应用" } }))),
      ),
    ).toContain('no English ("en") text');
  });

  test("texts and objects in a language: its own, its base language's, else English", () => {
    const title = { en: "Notes", zh: "笔记", "zh-TW": "筆記" };
    expect(textIn(title, "zh-TW")).toBe("筆記");
    expect(textIn(title, "zh-CN")).toBe("笔记");
    expect(textIn(title, "fr")).toBe("Notes");
    expect(objectIn({ en: pkg }, "zh-CN")).toBe(pkg);
  });
});
