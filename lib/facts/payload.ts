/**
 * What a device says of itself in its facts (protocol/device-facts.ts carries them,
 * signed): its backups to each target and whether it can back up at all, its disk and
 * where its space goes, and a gateway's certificates.
 * Read defensively: a part that does not have the expected shape (a newer or a broken
 * device) reads as unknown, never as an error for the reader.
 */
import { z } from "zod";

/** A device says the space of at most this many apps (the largest), and of as many leftovers. */
export const MAX_USAGE_APPS = 100;
export const MAX_LEFTOVERS = 20;

const backupRun = z.object({
  at: z.string().max(40),
  snapshot: z.string().max(80),
  durationMs: z.number().nonnegative(),
  /** Bytes of the files read anew (changed since the run before), and when that was. */
  changedBytes: z.number().nonnegative().optional(),
  sinceMs: z.number().nonnegative().optional(),
  /** Bytes written to the target (sealed, compressed). */
  storedBytes: z.number().nonnegative().optional(),
});

const targetFacts = z.object({
  lastBackup: backupRun.optional(),
  lastBackupError: z.object({ at: z.string().max(40), message: z.string().max(500) }).optional(),
  lastVerify: z
    .object({ at: z.string().max(40), ok: z.boolean(), damaged: z.number().nonnegative() })
    .optional(),
  behindSince: z.string().max(40).nullable().optional(),
});

const snapshotPosition = z.object({
  epoch: z.number().int().nonnegative(),
  seq: z.number().int().nonnegative(),
  /** When that snapshot was taken (the holder's clock, ms). */
  at: z.number().nonnegative(),
});

/** App data this device holds or keeps a copy of, and the conflict copies it keeps. */
const replicaFacts = z.object({
  held: z
    .record(
      z.string().max(64),
      snapshotPosition.extend({
        bytes: z.number().nonnegative(),
        /** Bytes sent to standbys since the holder's daemon started. */
        servedBytes: z.number().nonnegative().optional(),
        standbys: z.record(
          z.string().max(64),
          snapshotPosition.extend({
            ackedAtMs: z.number().nonnegative(),
            /** How long its copy has been behind the holder's data (0: up to date). */
            lagMs: z.number().nonnegative(),
            lagBytes: z.number().nonnegative(),
          }),
        ),
      }),
    )
    .catch({}),
  copies: z
    .record(
      z.string().max(64),
      snapshotPosition.extend({
        final: z.boolean(),
        holder: z.string().max(64),
        bytes: z.number().nonnegative(),
      }),
    )
    .catch({}),
  conflicts: z
    .record(
      z.string().max(64),
      z
        .array(
          z.object({
            name: z.string().max(128),
            at: z.string().max(40),
            bytes: z.number().nonnegative(),
            epoch: z.number().int().nonnegative(),
          }),
        )
        .max(20),
    )
    .catch({}),
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
  apps: z
    .record(
      z.string().max(64),
      z.object({
        dataBytes: bytes,
        packagesBytes: bytes,
        conflictsBytes: bytes,
        replicaBytes: bytes,
        logsBytes: bytes,
      }),
    )
    .refine((apps) => Object.keys(apps).length <= MAX_USAGE_APPS),
  logsBytes: bytes,
  backupCacheBytes: bytes,
  leftovers: z
    .array(z.object({ what: z.string().max(300), bytes, remove: z.string().max(300) }))
    .max(MAX_LEFTOVERS),
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

export const deviceFactsPayload = z.object({
  backup: z
    .object({
      /** Whether this device holds the backup key (so can back up and restore). */
      key: z.boolean(),
      targets: z.record(z.string().max(64), targetFacts),
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
      apps: z.record(
        z.string().max(64),
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
  certificates: z
    .record(z.string().max(253), certificateFacts)
    .refine((record) => Object.keys(record).length <= 100)
    .optional()
    .catch(undefined),
});

export type DeviceFactsPayload = z.infer<typeof deviceFactsPayload>;
export type UsageFacts = z.infer<typeof usageFacts>;
export type TargetFacts = z.infer<typeof targetFacts>;
export type ReplicaFacts = z.infer<typeof replicaFacts>;
export type CertificateFacts = z.infer<typeof certificateFacts>;

/** The payload of a record, or nothing known when it is not one. */
export function readPayload(facts: Readonly<Record<string, unknown>>): DeviceFactsPayload {
  const parsed = deviceFactsPayload.safeParse(facts);
  return parsed.success ? parsed.data : {};
}
