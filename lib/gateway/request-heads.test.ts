import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { BuckyError } from "../errors.ts";
import { MAX_HEAD_BYTES, RequestHeads, type RequestPart } from "./request-heads.ts";

const LIMIT = 1024 * 1024;

/** The parts as text, the place of each head's person shown as `<assertion>`. */
function text(parts: RequestPart[]): string {
  return parts
    .map((part) =>
      part instanceof Uint8Array ? Buffer.from(part).toString("latin1") : `<${part.assertion}>`,
    )
    .join("");
}

/**
 * What the reader makes of `chunks`, pushed one after the other through one buffer, written
 * over for each chunk as a socket's is (each push's parts read before the next).
 */
function read(chunks: string[], limit = LIMIT): string {
  return readCounting(chunks, limit).text;
}

/** read's text, and how many heads the reader counted. */
function readCounting(chunks: string[], limit = LIMIT): { text: string; requests: number } {
  const reader = new RequestHeads(limit);
  const reused = Buffer.alloc(Math.max(0, ...chunks.map((chunk) => chunk.length)));
  const out = chunks
    .map((chunk) => {
      const length = reused.write(chunk, "latin1");
      return text(reader.push(reused.subarray(0, length)));
    })
    .join("");
  return { text: out, requests: reader.requests };
}

function refusal(chunks: string[], limit = LIMIT): string {
  try {
    read(chunks, limit);
  } catch (error) {
    if (error instanceof BuckyError) return `${error.code}: ${error.message}`;
    throw error;
  }
  return "not refused";
}

describe("RequestHeads", () => {
  test("drops every bucky header, whatever its case or separator, and marks the assertion's place", () => {
    const head =
      "GET /a?b=1 HTTP/1.1\r\nhost: app\r\nBucky-User: mallory\r\nbucky_user_role: owner\r\n" +
      "accept: */*\r\nbucky-app-user: token\r\nBUCKY-ANYTHING: x\r\nx-bucky-kept: y\r\n\r\n";
    expect(read([head])).toBe(
      "GET /a?b=1 HTTP/1.1\r\nhost: app\r\naccept: */*\r\nx-bucky-kept: y\r\n<token>\r\n",
    );
  });

  test("a head without an assertion passes as it came, and is counted", () => {
    expect(readCounting(["GET / HTTP/1.1\r\nhost: app\r\n\r\n"])).toEqual({
      text: "GET / HTTP/1.1\r\nhost: app\r\n\r\n",
      requests: 1,
    });
  });

  test("a request with no bucky line, and its body, are the chunk itself: nothing joined or copied", () => {
    const chunk = Buffer.from("POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 2\r\n\r\nhi");
    const parts = new RequestHeads(LIMIT).push(chunk);
    expect(parts.length).toBe(1);
    expect(parts[0]).toBe(chunk);
  });

  test("bytes on either side of a bucky line go as two views, not more", () => {
    const chunk = Buffer.from("GET / HTTP/1.1\r\nbucky-user: m\r\nhost: app\r\n\r\n");
    expect(new RequestHeads(LIMIT).push(chunk).map((part) => text([part]))).toEqual([
      "GET / HTTP/1.1\r\n",
      "host: app\r\n\r\n",
    ]);
  });

  test("bodies pass untouched, a bucky line or a head inside one included", () => {
    const body = "bucky-user: mallory\r\n\r\nGET /x HTTP/1.1\r\n\r\n";
    const request = `POST /p HTTP/1.1\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    const next = "GET /n HTTP/1.1\r\nbucky-user: m\r\n\r\n";
    expect(read([request + next])).toBe(
      `POST /p HTTP/1.1\r\ncontent-length: ${body.length}\r\n\r\n${body}GET /n HTTP/1.1\r\n\r\n`,
    );
  });

  test("chunked bodies pass by their sizes, and the next head is read after the last chunk", () => {
    const request =
      "POST /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n" +
      "5\r\nbucky\r\nA\r\n-user: m\r\n\r\n0\r\n\r\n";
    expect(read([`${request}GET /n HTTP/1.1\r\nbucky_x: 1\r\n\r\n`])).toBe(
      "POST /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n" +
        "5\r\nbucky\r\nA\r\n-user: m\r\n\r\n0\r\n\r\nGET /n HTTP/1.1\r\n\r\n",
    );
  });

  test("refuses what Bun's fetch does not write", () => {
    const cases: Record<string, string[]> = {
      bareLf: ["GET / HTTP/1.1\nhost: a\r\n\r\n"],
      loneCr: ["GET / HTTP/1.1\r\nhost: a\rbucky-user: m\r\n\r\n"],
      folded: ["GET / HTTP/1.1\r\nhost: a\r\n bucky-user: m\r\n\r\n"],
      noColon: ["GET / HTTP/1.1\r\nhost\r\n\r\n"],
      spaceInName: ["GET / HTTP/1.1\r\nbucky-user : m\r\n\r\n"],
      lengthTwice: ["POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\nx"],
      lengthNotNumber: ["POST / HTTP/1.1\r\ncontent-length: +1\r\n\r\nx"],
      lengthAndChunked: [
        "POST / HTTP/1.1\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n",
      ],
      gzip: ["POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n"],
      chunkExtension: ["POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1;x=y\r\na\r\n"],
      trailer: ["POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\nbucky-user: m\r\n\r\n"],
      upgrade: ["GET / HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"],
      connect: ["CONNECT app:80 HTTP/1.1\r\n\r\n"],
      http10: ["GET / HTTP/1.0\r\n\r\n"],
      assertionTwice: ["GET / HTTP/1.1\r\nbucky-app-user: a\r\nbucky-app-user: b\r\n\r\n"],
      headTooLong: [`GET / HTTP/1.1\r\nx: ${"a".repeat(MAX_HEAD_BYTES)}`],
    };
    const accepted = Object.entries(cases)
      .filter(([, chunks]) => refusal(chunks).startsWith("not"))
      .map(([name]) => name);
    expect(accepted).toEqual([]);
  });

  test("refuses a body over the limit, declared or chunked", () => {
    expect(refusal(["POST / HTTP/1.1\r\ncontent-length: 11\r\n\r\n"], 10)).toStartWith(
      "E_TOO_LARGE",
    );
    expect(
      refusal(["POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n6\r\naaaaaa\r\n5\r\n"], 10),
    ).toStartWith("E_TOO_LARGE");
    expect(refusal(["POST / HTTP/1.1\r\ncontent-length: 10\r\n\r\n"], 10)).toBe("not refused");
  });
});

interface ModelRequest {
  path: string;
  headers: { name: string; value: string }[];
  body: string | null;
  chunked: boolean;
}

/** A request Bun's fetch could write, and what the app must receive of it. */
const request: fc.Arbitrary<ModelRequest> = fc
  .record({
    path: fc.stringMatching(/^\/[a-z0-9/?=&]{0,20}$/),
    headers: fc.array(
      fc.record({
        name: fc.constantFrom(
          "accept",
          "x-app",
          "Bucky-User",
          "bucky_user",
          "bucky-app-user",
          "cookie",
        ),
        value: fc.stringMatching(/^[a-z0-9 =;]{0,12}$/).map((v) => v.trim() || "v"),
      }),
      { maxLength: 6 },
    ),
    body: fc.option(fc.string({ maxLength: 40 }).map((b) => Buffer.from(b).toString("latin1"))),
    chunked: fc.boolean(),
  })
  .filter((r) => r.headers.filter((h) => h.name === "bucky-app-user").length <= 1);

function written(r: ModelRequest): { sent: string; received: string } {
  const lines = r.headers.map((h) => `${h.name}: ${h.value}\r\n`);
  const kept = r.headers
    .filter((h) => !h.name.toLowerCase().replaceAll("_", "-").startsWith("bucky-"))
    .map((h) => `${h.name}: ${h.value}\r\n`);
  const assertion = r.headers.find((h) => h.name === "bucky-app-user")?.value;
  let framing = "";
  let body = "";
  if (r.body !== null) {
    if (r.chunked) {
      framing = "transfer-encoding: chunked\r\n";
      body = `${r.body.length > 0 ? `${r.body.length.toString(16)}\r\n${r.body}\r\n` : ""}0\r\n\r\n`;
    } else {
      framing = `content-length: ${r.body.length}\r\n`;
      body = r.body;
    }
  }
  const line = `POST ${r.path} HTTP/1.1\r\n`;
  return {
    sent: `${line}${framing}${lines.join("")}\r\n${body}`,
    received: `${line}${framing}${kept.join("")}${assertion === undefined ? "" : `<${assertion}>`}\r\n${body}`,
  };
}

/**
 * How many bytes `run` has Buffer's indexOf look through (up to and with what it finds), and
 * how many Buffer.concat copies: what reading a head costs, counted rather than timed.
 */
function bytesLookedAt(run: () => void): { searched: number; joined: number } {
  const { indexOf } = Buffer.prototype;
  const { concat } = Buffer;
  const seen = { searched: 0, joined: 0 };
  Buffer.prototype.indexOf = function (
    this: Buffer,
    value: string | number | Uint8Array,
    from?: number,
    encoding?: BufferEncoding,
  ) {
    const found = indexOf.call(this, value, from, encoding);
    const needle = typeof value === "number" ? 1 : Buffer.byteLength(value);
    const start = typeof from === "number" ? from : 0;
    seen.searched += (found < 0 ? this.length : found + needle) - start;
    return found;
  } as typeof indexOf;
  Buffer.concat = ((list: readonly Uint8Array[], length?: number) => {
    const joined = concat(list, length);
    seen.joined += joined.length;
    return joined;
  }) as typeof concat;
  try {
    run();
  } finally {
    Buffer.prototype.indexOf = indexOf;
    Buffer.concat = concat;
  }
  return seen;
}

describe("RequestHeads, a head that comes a byte at a time", () => {
  test("is read with work in proportion to its length, not its square", () => {
    const lines = Array.from({ length: 400 }, (_, i) => `x-filler-${i}: ${"v".repeat(30)}\r\n`);
    const head = `GET /photos HTTP/1.1\r\nhost: app\r\n${lines.join("")}bucky-app-user: a\r\n\r\n`;
    expect(head.length).toBeGreaterThan(16 * 1024);
    let out = "";
    const work = bytesLookedAt(() => {
      out = read([...head]);
    });
    expect(out).toBe(head.replace("bucky-app-user: a\r\n", "<a>"));
    // Each byte is looked at a few times: when it comes (the head's end is looked for from
    // where the last look stopped), then once per line when the head is whole. Joined anew
    // with each byte and looked through from its start, it was about 16K²/2 bytes of each.
    expect(work.searched).toBeLessThan(8 * head.length);
    expect(work.joined).toBe(0);
  });
});

/** How many bytes the buffers behind `parts` take, each buffer counted once. */
function bytesBehind(parts: RequestPart[]): number {
  const buffers = new Set<ArrayBufferLike>();
  for (const part of parts) if (part instanceof Uint8Array) buffers.add(part.buffer);
  return [...buffers].reduce((sum, buffer) => sum + buffer.byteLength, 0);
}

describe("RequestHeads, cut at any two places", () => {
  test("reads every head's end, chunk-size line and chunk's CRLF the same, however they are cut", () => {
    // Two cuts anywhere, three chunks: every way of splitting a `\r\n\r\n` or a line in up to
    // three pieces, a piece of one or two bytes held between two chunks among them (the head
    // that came a byte at a time above has all four pieces).
    const sent =
      "POST /c HTTP/1.1\r\ntransfer-encoding: chunked\r\nbucky-user: m\r\n\r\n" +
      "5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n" +
      "GET /n HTTP/1.1\r\nbucky-app-user: a\r\nhost: app\r\n\r\n";
    const whole = read([sent]);
    const differ: string[] = [];
    for (let first = 1; first < sent.length; first++)
      for (let second = first; second < sent.length; second++) {
        const chunks = [sent.slice(0, first), sent.slice(first, second), sent.slice(second)];
        if (read(chunks.filter((chunk) => chunk.length > 0)) !== whole)
          differ.push(`${first},${second}`);
      }
    expect(differ).toEqual([]);
    expect(whole).toBe(
      sent
        .replace("bucky-user: m\r\n", "")
        .replace("bucky-app-user: a\r\n", "")
        .replace("host: app\r\n\r\n", "host: app\r\n<a>\r\n"),
    );
  });
});

describe("RequestHeads, what a head held across chunks costs in memory", () => {
  test("a head waiting for its end is held in no more than the head limit", () => {
    // The head, but for its last byte, in one chunk: held until the next.
    const head = `GET / HTTP/1.1\r\nx-filler: ${"v".repeat(40 * 1024)}\r\n\r\n`;
    const reader = new RequestHeads(LIMIT);
    expect(reader.push(Buffer.from(head.slice(0, -1), "latin1"))).toEqual([]);
    const parts = reader.push(Buffer.from("\n", "latin1"));
    expect(text(parts)).toBe(head);
    // What the reader held between the two chunks is what the parts are views of.
    expect(bytesBehind(parts)).toBeLessThanOrEqual(MAX_HEAD_BYTES);
  });

  test("a chunk that ends a held head is copied once, not into twice its size", () => {
    const head = "POST / HTTP/1.1\r\ncontent-length: 200000\r\n\r\n";
    const rest = `\n${"b".repeat(200_000)}`;
    const reader = new RequestHeads(LIMIT);
    expect(reader.push(Buffer.from(head.slice(0, -1), "latin1"))).toEqual([]);
    const parts = reader.push(Buffer.from(rest, "latin1"));
    expect(text(parts)).toBe(head + rest.slice(1));
    expect(bytesBehind(parts)).toBeLessThanOrEqual(head.length + rest.length);
  });
});

describe("RequestHeads on any requests, split anywhere", () => {
  test("gives the app each request less its bucky headers, whatever the chunks", () => {
    fc.assert(
      fc.property(
        fc.array(request, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 24 }),
        (requests, cuts) => {
          const all = requests.map(written);
          const sent = all.map((w) => w.sent).join("");
          const at = [...new Set(cuts.map((cut) => cut % (sent.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...at].map((from, i) => sent.slice(from, at[i] ?? sent.length));
          expect(readCounting(chunks.filter((c) => c.length > 0))).toEqual({
            text: all.map((w) => w.received).join(""),
            requests: requests.length,
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});
