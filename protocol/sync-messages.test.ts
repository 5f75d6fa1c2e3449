import { describe, expect, test } from "bun:test";
import { encodeCbor } from "./cbor.ts";
import { MAX_CHANGESET_BYTES } from "./changeset.ts";
import { type DeviceId, deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import {
  decodeAck,
  decodeEntries,
  decodePullRequest,
  encodeAck,
  encodeEntries,
  encodePullRequest,
  MAX_SYNC_MESSAGE_BYTES,
  MAX_VECTOR_DEVICES,
  SYNC_VERSION,
  type VersionVector,
} from "./sync-messages.ts";
import { refusal } from "./test-refusal.ts";

const deviceA = deviceIdFromPublicKey(new Uint8Array(32).fill(1));
const deviceB = deviceIdFromPublicKey(new Uint8Array(32).fill(2));
const have: VersionVector = new Map<DeviceId, number>([
  [deviceA, 7],
  [deviceB, 2 ** 40],
]);
const entries = [new Uint8Array([1, 2, 3]), new Uint8Array(), new Uint8Array(300).fill(9)];
const haveRecord = Object.fromEntries(have);

describe("pull requests", () => {
  test("round-trip their version vector", () => {
    expect(decodePullRequest(encodePullRequest({ have }))).toEqual({ have });
    expect(decodePullRequest(encodePullRequest({ have: new Map() }))).toEqual({ have: new Map() });
  });

  test("are the CBOR map {v, have}", () => {
    expect(decodePullRequest(encodeCbor({ v: 1, have: { [deviceA]: 3 } }))).toEqual({
      have: new Map([[deviceA, 3]]),
    });
  });

  test("pass over fields they do not know (a newer device's), and refuse other versions", () => {
    expect(decodePullRequest(encodeCbor({ v: 1, have: {}, since: 3 }))).toEqual({
      have: new Map(),
    });
    expect(refusal(() => decodePullRequest(encodeCbor({ v: 2, have: {} })))).toBe(
      "sync version 2 is not supported",
    );
    expect(refusal(() => decodePullRequest(encodeCbor({ have: {} })))).toBe(
      "sync version undefined is not supported",
    );
  });

  test("refuse what is not a CBOR map", () => {
    expect(refusal(() => decodePullRequest(encodeCbor([1, {}])))).toBe(
      "pull request must be a map",
    );
    expect(refusal(() => decodePullRequest(new Uint8Array([0xa1])))).toMatch(
      /^pull request is not valid CBOR: /,
    );
  });
});

describe("version vectors", () => {
  test.each<[string, unknown, string]>([
    [
      "a zone id as key",
      { [zoneIdFromPublicKey(new Uint8Array(32))]: 1 },
      "a version vector names something that is not a device id",
    ],
    [
      "a device name as key",
      { laptop: 1 },
      "a version vector names something that is not a device id",
    ],
    [
      "a truncated device id",
      { [deviceA.slice(0, -1)]: 1 },
      "a version vector names something that is not a device id",
    ],
    [
      "a negative seq",
      { [deviceA]: -1 },
      "version vector seq must be a whole number from 0 to 9007199254740991",
    ],
    [
      "a fractional seq",
      { [deviceA]: 1.5 },
      "version vector seq must be a whole number from 0 to 9007199254740991",
    ],
    [
      "a seq as text",
      { [deviceA]: "1" },
      "version vector seq must be a whole number from 0 to 9007199254740991",
    ],
    ["an array", [[deviceA, 1]], "version vector must be a map"],
    ["no vector", undefined, "version vector must be a map"],
  ])("refuse %s", (_what, vector, message) => {
    expect(refusal(() => decodePullRequest(encodeCbor({ v: 1, have: vector })))).toBe(message);
    expect(
      refusal(() => decodeAck(encodeCbor({ v: 1, have: vector, applied: 0, rejected: 0 }))),
    ).toBe(message);
  });

  test(`name at most ${MAX_VECTOR_DEVICES} devices`, () => {
    const many = new Map<DeviceId, number>();
    for (let i = 0; many.size <= MAX_VECTOR_DEVICES; i++) {
      const key = new Uint8Array(32);
      new DataView(key.buffer).setUint32(0, i);
      many.set(deviceIdFromPublicKey(key), i);
    }
    expect(refusal(() => decodePullRequest(encodePullRequest({ have: many })))).toBe(
      `a version vector names at most ${MAX_VECTOR_DEVICES} devices`,
    );
    const [first] = many.keys();
    many.delete(first as DeviceId);
    expect(decodePullRequest(encodePullRequest({ have: many })).have.size).toBe(MAX_VECTOR_DEVICES);
  });
});

describe("entries", () => {
  test("round-trip their vector, entries in order and more flag", () => {
    for (const more of [true, false]) {
      expect(decodeEntries(encodeEntries({ have, entries, more }))).toEqual({
        have,
        entries,
        more,
      });
    }
    expect(decodeEntries(encodeEntries({ have: new Map(), entries: [], more: false }))).toEqual({
      have: new Map(),
      entries: [],
      more: false,
    });
  });

  test(`accept an entry of exactly MAX_CHANGESET_BYTES and refuse one byte more`, () => {
    const largest = new Uint8Array(MAX_CHANGESET_BYTES);
    expect(decodeEntries(encodeEntries({ have, entries: [largest], more: false })).entries).toEqual(
      [largest],
    );
    const over = new Uint8Array(MAX_CHANGESET_BYTES + 1);
    expect(
      refusal(() => decodeEntries(encodeEntries({ have, entries: [over], more: false }))),
    ).toBe(`a sync entry is at most ${MAX_CHANGESET_BYTES} bytes`);
  });

  test("refuse a message over MAX_SYNC_MESSAGE_BYTES before decoding it", () => {
    const bytes = new Uint8Array(MAX_SYNC_MESSAGE_BYTES + 1);
    expect(refusal(() => decodeEntries(bytes))).toBe(
      `sync entries is ${MAX_SYNC_MESSAGE_BYTES + 1} bytes; the limit is ${MAX_SYNC_MESSAGE_BYTES}`,
    );
  });

  test.each<[string, Record<string, unknown>, string]>([
    ["an entry as text", { entries: ["abc"] }, "a sync entry must be a byte string"],
    [
      "an entry as an array of numbers",
      { entries: [[1, 2, 3]] },
      "a sync entry must be a byte string",
    ],
    ["an entry as a map", { entries: [{}] }, "a sync entry must be a byte string"],
    ["entries as a map", { entries: {} }, "sync entries must be an array"],
    ["no entries", { entries: undefined }, "sync entries must be an array"],
    ["more as a number", { more: 1 }, "sync entries more must be a boolean"],
    ["no more", { more: undefined }, "sync entries more must be a boolean"],
    ["version 0", { v: 0 }, "sync version 0 is not supported"],
  ])("refuse %s", (_what, changes, message) => {
    const message_ = { v: SYNC_VERSION, have: haveRecord, entries: [], more: false, ...changes };
    expect(refusal(() => decodeEntries(encodeCbor(message_)))).toBe(message);
  });
});

describe("acks", () => {
  test("round-trip their vector and counts", () => {
    const ack = { have, applied: 12, rejected: 3 };
    expect(decodeAck(encodeAck(ack))).toEqual(ack);
    expect(decodeAck(encodeAck({ have: new Map(), applied: 0, rejected: 0 }))).toEqual({
      have: new Map(),
      applied: 0,
      rejected: 0,
    });
  });

  test.each<[string, Record<string, unknown>, string]>([
    [
      "a negative applied",
      { applied: -1 },
      "sync ack applied must be a whole number from 0 to 9007199254740991",
    ],
    [
      "no rejected",
      { rejected: undefined },
      "sync ack rejected must be a whole number from 0 to 9007199254740991",
    ],
    ["version 2", { v: 2 }, "sync version 2 is not supported"],
  ])("refuse %s", (_what, changes, message) => {
    const ack = { v: SYNC_VERSION, have: haveRecord, applied: 1, rejected: 0, ...changes };
    expect(refusal(() => decodeAck(encodeCbor(ack)))).toBe(message);
  });

  test("are not taken for entries, nor entries for acks", () => {
    const ack = encodeAck({ have, applied: 1, rejected: 0 });
    expect(refusal(() => decodeEntries(ack))).toBe("sync entries must be an array");
    const page = encodeEntries({ have, entries, more: false });
    expect(refusal(() => decodeAck(page))).toBe(
      "sync ack applied must be a whole number from 0 to 9007199254740991",
    );
  });
});

describe("messages from a newer device", () => {
  test("keep what this version knows of them", () => {
    const newer = { v: SYNC_VERSION, have: haveRecord, entries, more: true, compacted: [1, 2] };
    expect(decodeEntries(encodeCbor(newer))).toEqual({ have, entries, more: true });
    const ack = { v: SYNC_VERSION, have: haveRecord, applied: 2, rejected: 0, hint: "x" };
    expect(decodeAck(encodeCbor(ack))).toEqual({ have, applied: 2, rejected: 0 });
  });
});

describe("presence in every message", () => {
  const presence = [new Uint8Array(100).fill(4), new Uint8Array(120).fill(5)];

  test("round-trips in pull requests, entries and acks, and is left out when empty", () => {
    expect(decodePullRequest(encodePullRequest({ have, presence }))).toEqual({ have, presence });
    expect(decodeEntries(encodeEntries({ have, entries, more: false, presence }))).toEqual({
      have,
      entries,
      more: false,
      presence,
    });
    expect(decodeAck(encodeAck({ have, applied: 1, rejected: 0, presence }))).toEqual({
      have,
      applied: 1,
      rejected: 0,
      presence,
    });
    expect(encodePullRequest({ have, presence: [] })).toEqual(encodePullRequest({ have }));
  });

  test("refuses presence that is not a list of small byte strings", () => {
    expect(refusal(() => decodePullRequest(encodeCbor({ v: 1, have: {}, presence: 3 })))).toBe(
      "sync presence must be an array",
    );
    expect(
      refusal(() => decodePullRequest(encodeCbor({ v: 1, have: {}, presence: ["text"] }))),
    ).toBe("a presence record must be a byte string");
    expect(
      refusal(() =>
        decodePullRequest(encodeCbor({ v: 1, have: {}, presence: [new Uint8Array(513)] })),
      ),
    ).toBe("a presence record is at most 512 bytes");
  });
});

describe("device facts in exchanges", () => {
  const facts = [new Uint8Array(300).fill(6)];

  test("round-trip in pull requests (what the asker has) and entries (what it lacks)", () => {
    const factsHave = have;
    expect(decodePullRequest(encodePullRequest({ have, factsHave }))).toEqual({ have, factsHave });
    expect(decodeEntries(encodeEntries({ have, entries, more: false, facts, factsHave }))).toEqual({
      have,
      entries,
      more: false,
      facts,
      factsHave,
    });
    expect(encodeEntries({ have, entries, more: false, facts: [] })).toEqual(
      encodeEntries({ have, entries, more: false }),
    );
  });

  test("refuses facts that are not a list of byte strings within the limit", () => {
    expect(refusal(() => decodeEntries(encodeCbor({ ...page(), facts: 3 })))).toBe(
      "sync facts must be an array",
    );
    expect(refusal(() => decodeEntries(encodeCbor({ ...page(), facts: ["x"] })))).toBe(
      "a facts record must be a byte string",
    );
    expect(
      refusal(() => decodeEntries(encodeCbor({ ...page(), facts: [new Uint8Array(70_000)] }))),
    ).toBe("a facts record is at most 65536 bytes");
    expect(refusal(() => decodePullRequest(encodeCbor({ v: 1, have: {}, factsHave: [] })))).toBe(
      "version vector must be a map",
    );
  });

  function page() {
    return { v: SYNC_VERSION, have: haveRecord, entries, more: false };
  }
});

describe("equivocation proofs in exchanges", () => {
  const proofs = [new Uint8Array(700).fill(4)];
  const proofsHave: VersionVector = new Map([[deviceA, 3]]);

  test("round-trip in pull requests (whose the asker has) and entries (those it lacks)", () => {
    expect(decodePullRequest(encodePullRequest({ have, proofsHave }))).toEqual({
      have,
      proofsHave,
    });
    expect(
      decodeEntries(encodeEntries({ have, entries, more: false, proofs, proofsHave })),
    ).toEqual({ have, entries, more: false, proofs, proofsHave });
    // None is no field: a message without proofs is what an older device sends and reads.
    expect(encodeEntries({ have, entries, more: false, proofs: [] })).toEqual(
      encodeEntries({ have, entries, more: false }),
    );
  });

  test("refuses proofs that are not a list of byte strings within the limit", () => {
    const page = { v: SYNC_VERSION, have: haveRecord, entries, more: false };
    expect(refusal(() => decodeEntries(encodeCbor({ ...page, proofs: 3 })))).toBe(
      "sync proofs must be an array",
    );
    expect(refusal(() => decodeEntries(encodeCbor({ ...page, proofs: ["x"] })))).toBe(
      "an equivocation proof must be a byte string",
    );
    expect(
      refusal(() =>
        decodeEntries(
          encodeCbor({ ...page, proofs: [new Uint8Array(2 * MAX_CHANGESET_BYTES + 65)] }),
        ),
      ),
    ).toBe(`an equivocation proof is at most ${2 * MAX_CHANGESET_BYTES + 64} bytes`);
    expect(refusal(() => decodePullRequest(encodeCbor({ v: 1, have: {}, proofsHave: [] })))).toBe(
      "version vector must be a map",
    );
  });
});

describe("heads in pull requests", () => {
  const heads = new Map<DeviceId, Uint8Array>([
    [deviceA, new Uint8Array(32).fill(7)],
    [deviceB, new Uint8Array(32).fill(8)],
  ]);

  test("round-trip, and none is no field (what an older device sends and reads)", () => {
    expect(decodePullRequest(encodePullRequest({ have, heads }))).toEqual({ have, heads });
    expect(encodePullRequest({ have, heads: new Map() })).toEqual(encodePullRequest({ have }));
  });

  test("refuses heads that are not device ids each with a hash of 32 bytes", () => {
    const pull = (value: unknown) => () =>
      decodePullRequest(encodeCbor({ v: SYNC_VERSION, have: haveRecord, heads: value }));
    expect(refusal(pull([]))).toBe("heads must be a map");
    expect(refusal(pull({ nobody: new Uint8Array(32) }))).toBe(
      "heads name something that is not a device id",
    );
    expect(refusal(pull({ [deviceA]: new Uint8Array(31) }))).toBe("a head is a hash of 32 bytes");
    expect(refusal(pull({ [deviceA]: "x".repeat(32) }))).toBe("a head is a hash of 32 bytes");
  });
});
