/**
 * The facts reader against the zod schema it replaced (kept here as the reference): the
 * same payload read, or the same parts left out, for values of the shape and near it. Since
 * names are checked (an entry whose name is not one of its kind is left out, not the whole
 * part), the schema drops such entries before it checks the rest.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { z } from "zod";
import { TARGET_NAME } from "../../protocol/backup/zone-target.ts";
import { checkAppName, checkDeviceName, isHostName } from "../../protocol/names.ts";
import { conflictCopyName, isConflictCopyName } from "../../protocol/replica.ts";
import { addressBytes } from "../../protocol/zone-ca.ts";
import { readPayload } from "./payload.ts";

// The names facts give, as protocol/ says them.
const appName = (key: string) => checkAppName(key).ok;
const deviceName = (key: string) => checkDeviceName(key).ok;
const targetName = (key: string) => TARGET_NAME.test(key);
const certificateName = (key: string) => isHostName(key) || addressBytes(key) !== undefined;

/** A map whose entries with a key that is no name of its kind are left out before it is read. */
const named = <V extends z.ZodType>(isName: (key: string) => boolean, value: V) =>
  z.preprocess(
    (map) =>
      typeof map === "object" && map !== null && !Array.isArray(map)
        ? Object.fromEntries(Object.entries(map).filter(([key]) => isName(key)))
        : map,
    z.record(z.string(), value),
  );

// The schema as it was (lib/facts/payload.ts before it stopped using zod), names checked.
const backupRun = z.object({
  at: z.string().max(40),
  snapshot: z.string().max(80),
  durationMs: z.number().nonnegative(),
  /** Bytes of the files read anew (changed since the run before), and when that was. */
  changedBytes: z.number().nonnegative().optional(),
  sinceMs: z.number().nonnegative().optional(),
  /** Bytes written to the target (sealed, compressed). */
  storedBytes: z.number().nonnegative().optional(),
  changing: z.number().int().nonnegative().optional(),
  leftOut: z.number().int().nonnegative().optional(),
});

const targetFacts = z.object({
  lastBackup: backupRun.optional().catch(undefined),
  lastBackupError: z
    .object({ at: z.string().max(40), message: z.string().max(500) })
    .optional()
    .catch(undefined),
  lastVerify: z
    .object({
      at: z.string().max(40),
      ok: z.boolean(),
      damaged: z.number().nonnegative(),
      forged: z.number().nonnegative().optional(),
      forgedIndex: z.number().nonnegative().optional(),
    })
    .optional()
    .catch(undefined),
  behindSince: z.string().max(40).nullable().optional().catch(undefined),
  lastPrune: z
    .object({ at: z.string().max(40) })
    .optional()
    .catch(undefined),
  lastPruneError: z
    .object({ at: z.string().max(40), since: z.string().max(40), message: z.string().max(500) })
    .optional()
    .catch(undefined),
  hotFailing: z
    .object({ since: z.string().max(40), message: z.string().max(500) })
    .optional()
    .catch(undefined),
});

const snapshotPosition = z.object({
  epoch: z.number().int().nonnegative(),
  seq: z.number().int().nonnegative(),
  /** When that snapshot was taken (the holder's clock, ms). */
  at: z.number().nonnegative(),
});

/** App data this device holds or keeps a copy of, and the conflict copies it keeps. */
const replicaFacts = z.object({
  held: named(
    appName,
    snapshotPosition.extend({
      bytes: z.number().nonnegative(),
      /** Bytes sent to standbys since the holder's daemon started. */
      servedBytes: z.number().nonnegative().optional(),
      standbys: named(
        deviceName,
        snapshotPosition.extend({
          ackedAtMs: z.number().nonnegative(),
          /** How long its copy has been behind the holder's data (0: up to date). */
          lagMs: z.number().nonnegative(),
          lagBytes: z.number().nonnegative(),
        }),
      ),
    }),
  ).catch({}),
  copies: named(
    appName,
    snapshotPosition.extend({
      final: z.boolean(),
      holder: z.string().max(64),
      bytes: z.number().nonnegative(),
      verifiedAt: z.number().nonnegative().optional(),
      damagedBlobs: z.number().nonnegative().optional(),
    }),
  )
    .transform((copies) =>
      Object.fromEntries(Object.entries(copies).filter(([, copy]) => deviceName(copy.holder))),
    )
    .catch({}),
  conflicts: named(
    appName,
    z
      .array(
        z.object({
          name: z.string().max(128),
          at: z.string().max(40),
          bytes: z.number().nonnegative(),
          epoch: z.number().int().nonnegative(),
        }),
      )
      .max(20)
      .transform((copies) => copies.filter((copy) => isConflictCopyName(copy.name))),
  ).catch({}),
});

const bytes = z.number().nonnegative();

/** Where the device's disk goes (lib/disk/usage.ts), as it last measured. */
const usageFacts = z.object({
  state: z.object({
    bytes,
    changesets: z.number().int().nonnegative(),
    keys: z.number().int().nonnegative(),
    checkpoint: z
      .object({ id: z.string().max(64), cut: z.string().max(40), keys: z.number().int() })
      .nullable(),
  }),
  namedData: z.object({ bytes, objects: z.number().int().nonnegative() }),
  apps: named(
    appName,
    z.object({
      dataBytes: bytes,
      packagesBytes: bytes,
      conflictsBytes: bytes,
      replicaBytes: bytes,
      logsBytes: bytes,
    }),
  ).refine((apps) => Object.keys(apps).length <= 100),
  logsBytes: bytes,
  backupCacheBytes: bytes,
  leftovers: z
    .array(z.object({ what: z.string().max(300), bytes, remove: z.string().max(300) }))
    .max(20),
});

/** A gateway's certificate for one name: who issues it, until when, and what went wrong last. */
const certificateFacts = z.object({
  issuer: z.enum(["acme", "zone", "files"]),
  notAfter: z.string().max(40).optional(),
  lastError: z
    .object({
      at: z.string().max(40),
      message: z.string().max(500),
      hint: z.string().max(300).optional(),
    })
    .optional(),
});

const deviceFactsPayload = z.object({
  backup: z
    .object({
      /** Whether this device holds the backup key (so can back up and restore). */
      key: z.boolean(),
      targets: named(targetName, targetFacts),
    })
    .optional()
    .catch(undefined),
  disk: z
    .object({ freeBytes: z.number().nonnegative(), totalBytes: z.number().nonnegative() })
    .optional()
    .catch(undefined),
  replicas: replicaFacts.optional().catch(undefined),
  usage: usageFacts.optional().catch(undefined),
  /** A gateway's requests per app in each of the last complete hours, oldest first. */
  traffic: z
    .object({
      /** The start of the first hour (ms). */
      fromMs: z.number().nonnegative(),
      apps: named(
        appName,
        z
          .array(
            z.object({ requests: z.number().nonnegative(), bytesOut: z.number().nonnegative() }),
          )
          .max(24),
      ),
    })
    .optional()
    .catch(undefined),
  /** A gateway's certificates, by the name each is for (at most 100). */
  certificates: named(certificateName, certificateFacts)
    .refine((record) => Object.keys(record).length <= 100)
    .optional()
    .catch(undefined),
  /** The names a gateway has no certificate for, past those 100: how many, and the first ones. */
  certificatesLeftOut: z
    .object({
      count: z.number().int().nonnegative(),
      names: z
        .array(z.string().max(253))
        .max(10)
        .transform((names) => names.filter(isHostName)),
    })
    .optional()
    .catch(undefined),
  gatewayDown: z
    .object({ message: z.string().max(500), since: z.string().max(40) })
    .optional()
    .catch(undefined),
  stopped: z
    .object({
      reason: z.literal("state-altered"),
      message: z.string().max(500),
      at: z.string().max(40),
    })
    .optional()
    .catch(undefined),
});

// Values of each shape, and now and then something else in their place.
const junk = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.double(),
  fc.integer(),
  fc.constantFrom(-1, 0.5, Number.POSITIVE_INFINITY, Number.NaN, 2 ** 53),
  fc.string({ maxLength: 3 }),
  fc.constant([]),
  fc.constant({}),
);
const or = <T>(arbitrary: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 30, arbitrary }, { weight: 1, arbitrary: junk });
// Short text, and text at its limit and one past it.
const text = (max: number) =>
  or(
    fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.constantFrom(max, max + 1).chain((n) => fc.string({ minLength: n, maxLength: n })),
    ),
  );
const amount = or(fc.oneof(fc.nat(), fc.double({ min: 0, max: 1e12, noNaN: true })));
const whole = or(fc.oneof(fc.nat(), fc.constantFrom(-1, 0.5, 2 ** 53, -(2 ** 53) + 1)));
const flag = or(fc.boolean());
// Mostly every field there (a deep part is whole often enough), sometimes any of them missing.
const shape = <T extends Record<string, fc.Arbitrary<unknown>>>(fields: T) =>
  or(
    fc.oneof(
      { weight: 4, arbitrary: fc.record(fields) },
      { weight: 1, arbitrary: fc.record(fields, { requiredKeys: [] }) },
    ),
  );
// Names of each kind a device gives, next to what is not one (a sentence, too long, a path).
const NAMES = [
  "notes",
  "photos-2",
  "nas",
  "usb",
  "0ff-site",
  "a".repeat(32),
  "a".repeat(63),
  "home.example.com",
  "gateway",
  "192.168.1.20",
  "fd00::20",
  conflictCopyName(Date.UTC(2026, 10, 29), "laptop", 3),
];
const NOT_NAMES = [
  "",
  "a".repeat(64),
  "Notes",
  "-x",
  "x-",
  "../etc",
  "x; the owner must run: bucky devices revoke nas",
  "a\nb",
];
const name = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.constantFrom(...NOT_NAMES) },
  { weight: 1, arbitrary: fc.string({ maxLength: 66 }) },
);
const map = <T>(value: fc.Arbitrary<T>, maxKeys = 3) => or(fc.dictionary(name, value, { maxKeys }));
// Keys of the sizes around the limit a map has on them: names, and now and then one that is not.
const manyKeys = <T>(value: fc.Arbitrary<T>, limit: number) =>
  or(
    fc.dictionary(
      fc.oneof(
        { weight: 50, arbitrary: fc.nat(99_999).map((n) => `app${n}`) },
        { weight: 1, arbitrary: fc.constantFrom(...NOT_NAMES) },
      ),
      value,
      { minKeys: limit - 1, maxKeys: limit + 2 },
    ),
  );
const array = <T>(value: fc.Arbitrary<T>, max: number) =>
  or(fc.array(value, { maxLength: max + 1 }));

const position = { epoch: whole, seq: whole, at: amount };
const payload = fc.record(
  {
    backup: shape({
      key: flag,
      targets: map(
        shape({
          lastBackup: shape({
            at: text(40),
            snapshot: text(80),
            durationMs: amount,
            changedBytes: amount,
            sinceMs: amount,
            storedBytes: amount,
            changing: whole,
            leftOut: whole,
          }),
          lastBackupError: shape({ at: text(40), message: text(500) }),
          lastVerify: shape({
            at: text(40),
            ok: flag,
            damaged: amount,
            forged: amount,
            forgedIndex: amount,
          }),
          behindSince: or(fc.oneof(fc.constant(null), fc.string({ maxLength: 42 }))),
          lastPrune: shape({ at: text(40) }),
          lastPruneError: shape({ at: text(40), since: text(40), message: text(500) }),
          hotFailing: shape({ since: text(40), message: text(500) }),
        }),
      ),
    }),
    disk: shape({ freeBytes: amount, totalBytes: amount }),
    replicas: shape({
      held: map(
        shape({
          ...position,
          bytes: amount,
          servedBytes: amount,
          standbys: map(shape({ ...position, ackedAtMs: amount, lagMs: amount, lagBytes: amount })),
        }),
      ),
      copies: map(
        shape({
          ...position,
          final: flag,
          holder: or(fc.oneof(name, text(64))),
          bytes: amount,
          verifiedAt: amount,
          damagedBlobs: amount,
        }),
      ),
      conflicts: map(
        array(
          shape({ name: or(fc.oneof(name, text(128))), at: text(40), bytes: amount, epoch: whole }),
          20,
        ),
      ),
    }),
    usage: shape({
      state: shape({
        bytes: amount,
        changesets: whole,
        keys: whole,
        checkpoint: or(
          fc.oneof(fc.constant(null), shape({ id: text(64), cut: text(40), keys: whole })),
        ),
      }),
      namedData: shape({ bytes: amount, objects: whole }),
      apps: fc.oneof(
        map(
          shape({
            dataBytes: amount,
            packagesBytes: amount,
            conflictsBytes: amount,
            replicaBytes: amount,
            logsBytes: amount,
          }),
        ),
        manyKeys(
          fc.constant({
            dataBytes: 1,
            packagesBytes: 2,
            conflictsBytes: 3,
            replicaBytes: 4,
            logsBytes: 5,
          }),
          100,
        ),
      ),
      logsBytes: amount,
      backupCacheBytes: amount,
      leftovers: array(shape({ what: text(300), bytes: amount, remove: text(300) }), 20),
    }),
    traffic: shape({
      fromMs: amount,
      apps: map(array(shape({ requests: amount, bytesOut: amount }), 24)),
    }),
    certificates: map(
      shape({
        issuer: or(fc.constantFrom("acme", "zone", "files", "other")),
        notAfter: text(40),
        lastError: shape({ at: text(40), message: text(500), hint: text(300) }),
      }),
    ),
    certificatesLeftOut: shape({
      count: whole,
      names: array(or(fc.oneof(name, text(253))), 10),
    }),
    gatewayDown: shape({ message: text(500), since: text(40) }),
    stopped: shape({
      reason: or(fc.constantFrom("state-altered", "restarting")),
      message: text(500),
      at: text(40),
    }),
    unknown: junk,
  },
  { requiredKeys: ["backup", "replicas", "usage", "certificates"] },
);

describe("readPayload", () => {
  test("reads what the zod schema read, and leaves out what it left out", () => {
    fc.assert(
      fc.property(payload, (facts) => {
        const parsed = deviceFactsPayload.safeParse(facts);
        expect(readPayload(facts)).toEqual(parsed.success ? parsed.data : {});
      }),
      { numRuns: 2000 },
    );
  });

  test("a map's key named __proto__ is left out, as zod left it out, and gives nothing a prototype", () => {
    const facts = JSON.parse(
      '{"backup":{"key":true,"targets":{"__proto__":{"behindSince":null},"usb":{}}},' +
        '"traffic":{"fromMs":0,"apps":{"__proto__":[{"requests":1,"bytesOut":2}]}}}',
    );
    const read = readPayload(facts);
    expect(read).toEqual(deviceFactsPayload.parse(facts));
    expect(Object.getPrototypeOf(read.backup?.targets)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(read.traffic?.apps)).toBe(Object.prototype);
  });
});
