/**
 * The people of a zone, as its state holds them: accounts, enrollment tokens and
 * credentials. Every piece a gateway trusts when someone signs in traces back to the
 * owner key, so a member device can neither make an account, raise its role, nor give
 * itself a way into one:
 *
 *   users/<user>/account/<rev>        an account record, signed by the owner key. Each
 *                                     change is a new rev; the highest rev is the account
 *                                     (a removal is one too), and no rev is ever deleted,
 *                                     so an old record written again changes nothing.
 *   users/<user>/credentials/<nonce>  a passkey's public key, or what a password leaves
 *                                     (a memory-hard hash turned into a public key), with
 *                                     the owner-signed enrollment token it was made under.
 *                                     Only the gateway that token names may write it.
 *   users/<user>/credentials/<nonce>/<gateway>
 *                                     the same, under an enrollment that names several
 *                                     gateways (`bucky-enroll/2`): each records what it
 *                                     made under its own key, so a link used at two of them
 *                                     at once (leaked, a partition between them) leaves two
 *                                     records, and then neither counts (lib/users/
 *                                     directory.ts): a link opens at most one way in, and
 *                                     one that leaked gives a thief nothing that lasts.
 *   users/<user>/password-changes/<id>
 *                                     a password changed by its person
 *                                     (protocol/password-change.ts).
 *
 * A credential counts while the account's `creds` is the rev its enrollment names:
 * `bucky user reset` moves `creds` on, and every older credential (and every session
 * opened with one) stops working on every gateway.
 */
import type { Brand } from "./brand.ts";
import type { SigningKey } from "./ed25519.ts";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url } from "./encoding.ts";
import { check, ProtocolError } from "./errors.ts";
import { MAX_CLOCK_AHEAD_MS } from "./hlc.ts";
import { type DeviceId, parseDeviceId, publicKeyOfId, type ZoneId } from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { checkDeviceName, type NameCheck } from "./names.ts";
import { isRecord, requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";

export type UserName = Brand<string, "UserName">;

/** The owner's own account: always there, always an admin, never removed. */
export const OWNER_USER = "owner" as UserName;

export const ROLES = ["admin", "member", "child"] as const;
/** What a person may do: "owner" is the owner's alone. */
export type Role = "owner" | (typeof ROLES)[number];

/**
 * Words that cannot be a person's name: they name roles (a share or a rule may say
 * `member`), or mean something else where names are listed.
 */
const RESERVED_NAMES = new Set([
  "owner",
  "admin",
  "admins",
  "member",
  "members",
  "child",
  "children",
  "everyone",
  "device",
  "devices",
]);

export const ACCOUNT_TYPE = "bucky-account/1";
export const ENROLLMENT_TYPE = "bucky-enroll/1";
/** An enrollment any of several gateways takes. */
export const ENROLLMENT_V2_TYPE = "bucky-enroll/2";
/** The most gateways an enrollment names. */
export const MAX_ENROLLMENT_GATEWAYS = 16;
export const NONCE_BYTES = 16;
const MAX_REV = 2 ** 40;
/**
 * How late after its enrollment's expiry a credential's changeset may be dated: the
 * gateway stops taking the link at its expiry by its own clock, and a changeset's time
 * runs at most a bound ahead of it (protocol/hlc.ts), so twice that bound and a minute
 * more refuse no credential made in time.
 */
export const CREDENTIAL_LATE_MS = 2 * MAX_CLOCK_AHEAD_MS + 60_000;

/**
 * A person's name: a DNS label, like a device's (it appears in state keys and logs), and
 * no role word. `owner` is accepted where an existing account is named.
 */
export function checkUserName(text: string, existing = false): NameCheck<UserName> {
  const checked = checkDeviceName(text);
  if (!checked.ok) return checked;
  if (RESERVED_NAMES.has(text) && !(existing && text === OWNER_USER))
    return { ok: false, reason: `"${text}" is a reserved word (roles are named so)` };
  return { ok: true, name: text as UserName };
}

export function isRole(text: string): text is Role {
  return text === "owner" || (ROLES as readonly string[]).includes(text);
}

export const userKeys = {
  prefix: "users/",
  account: (user: string, rev: number) => `users/${user}/account/${rev}`,
  credential: (user: string, nonce: string) => `users/${user}/credentials/${nonce}`,
  /** Where `gateway` records a credential made under a `bucky-enroll/2` enrollment. */
  credentialAt: (user: string, nonce: string, gateway: string) =>
    `users/${user}/credentials/${nonce}/${gateway}`,
  passwordChange: (user: string, id: string) => `users/${user}/password-changes/${id}`,
} as const;

export interface Account {
  readonly zone: ZoneId;
  readonly user: UserName;
  /** Counts changes of this account: the highest rev is the account. */
  readonly rev: number;
  /** Null once removed. */
  readonly role: Role | null;
  /** The rev whose enrollments are the account's credentials. */
  readonly creds: number;
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  readonly jws: string;
}

export function signAccount(fields: Omit<Account, "jws">, owner: SigningKey): string {
  return signJws(
    { alg: "EdDSA", typ: ACCOUNT_TYPE, kid: fields.zone },
    {
      zone: fields.zone,
      user: fields.user,
      rev: fields.rev,
      role: fields.role,
      creds: fields.creds,
      iat: fields.issuedAt,
    },
    owner,
  );
}

/** Checks an account record: the owner's signature, its zone, and that it makes sense. */
export function verifyAccount(jws: string, zone: ZoneId): Account {
  const payload = openOwnerSigned(jws, ACCOUNT_TYPE, zone, "account");
  requireOnlyFields(payload, ["zone", "user", "rev", "role", "creds", "iat"], "account");
  const user = requireUser(payload.user);
  const rev = requireUint(payload.rev, "account rev", MAX_REV);
  const creds = requireUint(payload.creds, "account creds", MAX_REV);
  check(creds <= rev, "an account's credentials cannot come from a later rev");
  const role = payload.role === null ? null : requireString(payload.role, "account role", 16);
  check(role === null || isRole(role), `"${role}" is not a role`);
  check((user === OWNER_USER) === (role === "owner"), "only the owner's account is the owner's");
  check(role !== null || user !== OWNER_USER, "the owner's account cannot be removed");
  return {
    zone,
    user,
    rev,
    role: role as Role | null,
    creds,
    issuedAt: requireUint(payload.iat, "account iat"),
    jws,
  };
}

/**
 * The link a person sets up their way in with: for one account's rev, once. A first
 * version's works at one gateway; a second's at any of the gateways it names (the zone's
 * when it was made), so one gateway away or dead keeps no one out.
 */
export interface Enrollment {
  readonly zone: ZoneId;
  readonly user: UserName;
  /** The account's `creds` it enrolls for: a reset since makes it void. */
  readonly creds: number;
  /** The gateway its link leads to (the first it names). */
  readonly gateway: DeviceId;
  /** Every gateway that takes it, and the only devices that may record what it makes. */
  readonly gateways: readonly DeviceId[];
  /** 1: one gateway, its credential at `credentials/<nonce>`; 2: `credentials/<nonce>/<gateway>`. */
  readonly version: 1 | 2;
  readonly nonce: string;
  readonly expiresAt: number;
  readonly jws: string;
}

/**
 * Signs an enrollment: for `gateway` alone (a first version's), or, given `gateways` (the
 * link's first among them), for any of those.
 */
export function signEnrollment(
  fields: Omit<Enrollment, "jws" | "nonce" | "gateways" | "version"> & {
    nonce: Uint8Array;
    gateways?: readonly DeviceId[];
  },
  owner: SigningKey,
): Enrollment {
  const nonce = toBase64url(fields.nonce);
  const common = { zone: fields.zone, user: fields.user, creds: fields.creds };
  const { gateways } = fields;
  if (gateways === undefined) {
    const jws = signJws(
      { alg: "EdDSA", typ: ENROLLMENT_TYPE, kid: fields.zone },
      { ...common, gw: fields.gateway, nonce, exp: fields.expiresAt },
      owner,
    );
    return { ...fields, gateways: [fields.gateway], version: 1, nonce, jws };
  }
  check(
    gateways[0] === fields.gateway && gateways.length <= MAX_ENROLLMENT_GATEWAYS,
    "an enrollment names its link's gateway first, and at most 16",
  );
  const jws = signJws(
    { alg: "EdDSA", typ: ENROLLMENT_V2_TYPE, kid: fields.zone },
    { ...common, gws: gateways, nonce, exp: fields.expiresAt },
    owner,
  );
  return { ...fields, gateways: [...gateways], version: 2, nonce, jws };
}

/** Checks an enrollment token's signature and shape; its expiry and use are the caller's. */
export function verifyEnrollment(jws: string, zone: ZoneId): Enrollment {
  const version = decodeJws(jws).header.typ === ENROLLMENT_V2_TYPE ? 2 : 1;
  const payload = openOwnerSigned(
    jws,
    version === 2 ? ENROLLMENT_V2_TYPE : ENROLLMENT_TYPE,
    zone,
    "enrollment",
  );
  requireOnlyFields(
    payload,
    ["zone", "user", "creds", version === 2 ? "gws" : "gw", "nonce", "exp"],
    "enrollment",
  );
  let gateways: DeviceId[];
  if (version === 2) {
    check(
      Array.isArray(payload.gws) &&
        payload.gws.length >= 1 &&
        payload.gws.length <= MAX_ENROLLMENT_GATEWAYS,
      `an enrollment names 1 to ${MAX_ENROLLMENT_GATEWAYS} gateways`,
    );
    gateways = (payload.gws as unknown[]).map((gw) => {
      const id = parseDeviceId(requireString(gw, "enrollment gateway", 64));
      check(id !== undefined, "an enrollment's gateway is not a device id");
      return id;
    });
    check(new Set(gateways).size === gateways.length, "an enrollment names a gateway twice");
  } else {
    const id = parseDeviceId(requireString(payload.gw, "enrollment gateway", 64));
    check(id !== undefined, "the enrollment's gateway is not a device id");
    gateways = [id];
  }
  const nonce = requireString(payload.nonce, "enrollment nonce", 32);
  check(fromBase64url(nonce)?.length === NONCE_BYTES, "the enrollment's nonce is malformed");
  return {
    zone,
    user: requireUser(payload.user),
    creds: requireUint(payload.creds, "enrollment creds", MAX_REV),
    gateway: gateways[0] as DeviceId,
    gateways,
    version,
    nonce,
    expiresAt: requireUint(payload.exp, "enrollment exp"),
    jws,
  };
}

/** Argon2id's cost, as a password credential records it. */
export interface PasswordCost {
  readonly memoryKiB: number;
  readonly passes: number;
  readonly parallelism: number;
}

/**
 * A credential as the zone state keeps it. A passkey's is its public key (COSE) and id;
 * a password's is an Ed25519 public key whose private half only the password gives
 * (Argon2id of it and the salt, then HKDF): a memory-hard hash that can also sign, so a
 * gateway that checked the password proves it to every other gateway.
 */
export type Credential =
  | {
      readonly v: 1;
      readonly kind: "passkey";
      readonly enrollment: string;
      /** The credential id, base64url. */
      readonly id: string;
      /** The COSE public key, base64url. */
      readonly publicKey: string;
      /** The relying party (the gateway's host name) it was made for. */
      readonly rpId: string;
      readonly createdAt: string;
    }
  | ({
      readonly v: 1;
      readonly kind: "password";
      readonly enrollment: string;
      /** base64url, 16 to 64 bytes. */
      readonly salt: string;
      /** The Ed25519 public key, base64url. */
      readonly publicKey: string;
      readonly createdAt: string;
    } & PasswordCost);

const MAX_CREDENTIAL_ID = 1400;
const MAX_COSE_KEY = 2048;
/** Limits on the cost a record may ask of every gateway that checks a password. */
export const MAX_PASSWORD_COST: PasswordCost = {
  memoryKiB: 262_144,
  passes: 10,
  parallelism: 8,
};

/** Reads a credential record. Throws ProtocolError when malformed. */
export function decodeCredential(value: unknown): Credential {
  check(isRecord(value), "a credential is an object");
  check(value.v === 1, "a credential is of version 1");
  const enrollment = requireString(value.enrollment, "credential enrollment", 4096);
  const createdAt = requireString(value.createdAt, "credential createdAt", 40);
  if (value.kind === "passkey") {
    requireOnlyFields(
      value,
      ["v", "kind", "enrollment", "id", "publicKey", "rpId", "createdAt"],
      "passkey",
    );
    const id = requireString(value.id, "passkey id", MAX_CREDENTIAL_ID);
    check(fromBase64url(id)?.length, "a passkey's id is base64url");
    const publicKey = requireString(value.publicKey, "passkey public key", MAX_COSE_KEY);
    check(fromBase64url(publicKey)?.length, "a passkey's public key is base64url");
    return {
      v: 1,
      kind: "passkey",
      enrollment,
      id,
      publicKey,
      rpId: requireString(value.rpId, "passkey rpId", 253),
      createdAt,
    };
  }
  check(value.kind === "password", 'a credential is a "passkey" or a "password"');
  requireOnlyFields(
    value,
    [
      "v",
      "kind",
      "enrollment",
      "salt",
      "publicKey",
      "memoryKiB",
      "passes",
      "parallelism",
      "createdAt",
    ],
    "password",
  );
  const salt = requireString(value.salt, "password salt", 88);
  const saltBytes = fromBase64url(salt)?.length ?? 0;
  check(saltBytes >= 16 && saltBytes <= 64, "a password's salt is 16 to 64 bytes");
  const publicKey = requireString(value.publicKey, "password public key", 44);
  const key = fromBase64url(publicKey);
  check(key !== undefined, "a password's public key is base64url");
  verifyKeyFromPublicKey(key);
  return {
    v: 1,
    kind: "password",
    enrollment,
    salt,
    publicKey,
    memoryKiB: requireUint(value.memoryKiB, "password memoryKiB", MAX_PASSWORD_COST.memoryKiB),
    passes: requireUint(value.passes, "password passes", MAX_PASSWORD_COST.passes),
    parallelism: requireUint(
      value.parallelism,
      "password parallelism",
      MAX_PASSWORD_COST.parallelism,
    ),
    createdAt,
  };
}

/**
 * Why the device `author` may not write `value` at `users/<user>/<field>/<id>`, or
 * undefined when it may (protocol/write-rules.ts): an account record signed by the owner
 * for that user and rev; a credential under an owner-signed enrollment for that user,
 * whose nonce is the key's, written by the gateway the enrollment names while the
 * enrollment worked (`atMs`, the changeset's time). Neither is ever deleted.
 */
export function userWriteProblem(
  key: string,
  value: string | null,
  author: DeviceId,
  zone: ZoneId,
  atMs?: number,
): string | undefined {
  const [, user, field, id, ...rest] = key.split("/");
  if (
    user === undefined ||
    id === undefined ||
    rest.length > (field === "credentials" ? 1 : 0) ||
    (field !== "account" && field !== "credentials")
  )
    return `${key} is reserved`;
  if (value === null) return `${key} cannot be deleted`;
  try {
    const parsed: unknown = JSON.parse(value);
    if (field === "account") {
      check(typeof parsed === "string", "it holds an account as a JWS string");
      const account = verifyAccount(parsed, zone);
      check(account.user === user, `it is the account of ${account.user}`);
      check(String(account.rev) === id, `it is rev ${account.rev}`);
      return undefined;
    }
    const credential = decodeCredential(parsed);
    const enrollment = verifyEnrollment(credential.enrollment, zone);
    check(enrollment.user === user, `its enrollment is for ${enrollment.user}`);
    check(enrollment.nonce === id, "its enrollment is another one");
    // Each gateway of a second version's its own key: else two gateways that both took a
    // leaked link would write one key, and the later would quietly win.
    const at = rest[0];
    check(
      (at === undefined) === (enrollment.version === 1),
      at === undefined
        ? "an enrollment for several gateways is recorded under the gateway's id"
        : "an enrollment for one gateway is recorded under its nonce alone",
    );
    check(
      enrollment.gateways.includes(author) && (at === undefined || at === author),
      "only the gateways its enrollment names may record it, each under its own id",
    );
    // Only while its link works: past it, the gateway the link named (taken over, say)
    // could put a key of its own in place of the one the person made, at the same nonce,
    // and open their account (the owner's too) whenever it liked.
    check(
      atMs === undefined || atMs <= enrollment.expiresAt * 1000 + CREDENTIAL_LATE_MS,
      "its enrollment had expired when it was written",
    );
    return undefined;
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError)
      return `${key} must hold ${field === "account" ? "an account signed by the zone owner" : "a credential made under the owner's enrollment"}: ${error.message}`;
    throw error;
  }
}

/** Whether `key` records a credential: `users/<u>/credentials/<nonce>[/<gateway>]`. */
export function isCredentialKey(key: string): boolean {
  const [top, , field] = key.split("/", 3);
  return top === "users" && field === "credentials";
}

/**
 * Why writing `value` at the credential key `key`, which holds `held`, is refused: a
 * credential is recorded once. Only the gateway its enrollment names writes it
 * (userWriteProblem), once (lib/users/enrollment.ts); written again with another value,
 * dated within its link's life by a clock its writer chose, it put the writer's own key in
 * place of the person's, long after the link expired. Checked where the state is at hand
 * (lib/state/held-rules.ts); every device applies a gateway's changesets in their order,
 * so every device finds the same first one.
 */
export function credentialRewriteProblem(
  key: string,
  value: string | null,
  held: string | null | undefined,
): string | undefined {
  if (held === undefined || held === null || held === value) return undefined;
  return `${key} holds a credential already: a credential is recorded once`;
}

function requireUser(value: unknown): UserName {
  const text = requireString(value, "user", 64);
  const checked = checkUserName(text, true);
  check(checked.ok, `"${text}" is not a user name`);
  return checked.name;
}

function openOwnerSigned(
  jws: string,
  type: string,
  zone: ZoneId,
  what: string,
): Record<string, unknown> {
  const decoded = decodeJws(jws);
  check(decoded.header.typ === type, `not an ${what}`);
  check(decoded.header.kid === zone, `the ${what} is not signed by this zone's owner`);
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(zone, "zone") as Uint8Array));
  const payload = requireRecord(decoded.payload, what);
  check(payload.zone === zone, `the ${what} is for another zone`);
  return payload;
}
