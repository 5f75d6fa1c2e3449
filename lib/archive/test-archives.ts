/** Tar archives made byte by byte for tests: headers of any type, and gzip bombs. */
import { gzipSync } from "node:zlib";
import { BuckyError } from "../errors.ts";

/** A ustar header for `name` (`type` "0" a file, "5" a directory, "2" a link…). */
export function tarHeader(name: string, size: number, type = "0", link = ""): Uint8Array {
  const header = new Uint8Array(512);
  const put = (text: string, at: number) => header.set(new TextEncoder().encode(text), at);
  put(name, 0);
  put("0000644\0", 100);
  put("0000000\0", 108);
  put("0000000\0", 116);
  put(`${size.toString(8).padStart(11, "0")}\0`, 124);
  put("00000000000\0", 136);
  put("        ", 148);
  put(type, 156);
  put(link, 157);
  put("ustar\u000000", 257);
  const sum = header.reduce((a, b) => a + b, 0);
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return header;
}

/**
 * A .tar.gz of `files` files of `fileBytes` zeros each, made without the big bytes: one
 * gzip member per header and the same compressed member of zeros after each.
 */
export function gzipBomb(files: number, fileBytes: number): Uint8Array {
  const zeros = gzipSync(new Uint8Array(fileBytes));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < files; i++)
    parts.push(gzipSync(tarHeader(`ndn/zero-${i}`, fileBytes)), zeros);
  parts.push(gzipSync(new Uint8Array(1024)));
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * A tar of `entries`: each a name, its content, and its type ("0" a file by default, "5" a
 * directory, "2" a link to `content`, "x" a pax header whose records are `content`).
 */
export function tar(
  entries: readonly [name: string, content: string, type?: string][],
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, content, type] of entries) {
    const bytes = new TextEncoder().encode(content);
    const body = type === undefined || type === "0" || type === "x" ? bytes : new Uint8Array(0);
    parts.push(tarHeader(name, body.length, type ?? "0", type === "2" ? content : ""));
    parts.push(body, new Uint8Array((512 - (body.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return new Uint8Array(Buffer.concat(parts));
}

/** What `work` was refused with, as "CODE: message"; anything else fails the test. */
export async function refusal(work: Promise<unknown>): Promise<string> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof BuckyError)) throw new Error(`expected a refusal, got ${String(error)}`);
  return `${error.code}: ${error.message}`;
}
