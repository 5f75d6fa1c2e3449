import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_APP_ARCHIVE_BYTES } from "../apps/app-archive.ts";
import { CATALOG_FILE_BYTES } from "../catalog/catalog-archive.ts";
import { boundedChunks, MAX_LOCAL_BODY_BYTES, readBody, writeBody } from "./request-body.ts";

/**
 * A request of `sizeBytes` bytes in 1 KiB pieces, saying `contentLength` of itself (or
 * nothing). `letGo`: its body is neither read further nor held by a reader (a request's
 * body is never cancelled: see lib/node/bounded-read.ts).
 */
function request(sizeBytes: number, contentLength?: number) {
  let sent = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= sizeBytes) return controller.close();
      const piece = new Uint8Array(Math.min(1024, sizeBytes - sent)).fill(0x61);
      sent += piece.length;
      controller.enqueue(piece);
    },
    cancel() {
      cancelled = true;
    },
  });
  const headers: Record<string, string> =
    contentLength === undefined ? {} : { "content-length": String(contentLength) };
  const request = new Request("http://bucky/", { method: "POST", body, headers });
  return {
    request,
    sent: () => sent,
    letGo: () => !cancelled && request.body?.locked === false,
  };
}

describe("a request's body read within a bound", () => {
  test("is read whole up to the bound", async () => {
    expect((await readBody(request(10_000).request, 10_000)).length).toBe(10_000);
    expect((await readBody(new Request("http://bucky/"), 10)).length).toBe(0);
  });

  test("past the bound, it is refused and no more is read, whatever Content-Length says", async () => {
    for (const contentLength of [undefined, 100, 10_000]) {
      const sending = request(1024 * 1024, contentLength);
      const refused = await readBody(sending.request, 10_000, "a test body").catch((e) => e);
      expect({
        contentLength,
        code: refused.code,
        message: refused.message,
        readOn: sending.sent() > 20_000,
        letGo: sending.letGo(),
      }).toEqual({
        contentLength,
        code: "E_TOO_LARGE",
        message: "a test body is over 10000 bytes, the most this takes",
        readOn: false,
        letGo: true,
      });
    }
  });

  test("a Content-Length past the bound is refused before a byte is read", async () => {
    const sending = request(1024 * 1024, 1024 * 1024);
    await expect(readBody(sending.request, 10_000)).rejects.toMatchObject({ code: "E_TOO_LARGE" });
    expect({ sent: sending.sent() <= 1024, letGo: sending.letGo() }).toEqual({
      sent: true,
      letGo: true,
    });
  });

  test("a reader that stops early lets the body go, no more of it read", async () => {
    const sending = request(1024 * 1024);
    for await (const _ of boundedChunks(sending.request, 2 * 1024 * 1024)) break;
    expect({ readOn: sending.sent() > 20_000, letGo: sending.letGo() }).toEqual({
      readOn: false,
      letGo: true,
    });
  });

  test("written to a file, it is there whole, or not at all when refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-body-"));
    try {
      expect(await writeBody(request(5000).request, join(dir, "ok"), 5000)).toBe(5000);
      expect(readFileSync(join(dir, "ok")).length).toBe(5000);
      await expect(
        writeBody(request(50_000).request, join(dir, "big"), 5000),
      ).rejects.toMatchObject({
        code: "E_TOO_LARGE",
      });
      expect(existsSync(join(dir, "big"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the local API's server lets through the largest body a route takes", () => {
    expect(CATALOG_FILE_BYTES).toBeLessThan(MAX_LOCAL_BODY_BYTES);
    expect(MAX_APP_ARCHIVE_BYTES).toBeLessThan(MAX_LOCAL_BODY_BYTES);
  });
});
