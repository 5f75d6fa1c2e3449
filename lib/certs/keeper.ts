/**
 * Keeps a gateway's certificates current, by itself: from ACME for a public host name
 * (the host and each app's name under it, one certificate per name), or from the zone CA
 * for a local one. It looks every few seconds and whenever the apps or the gateway change.
 *
 * - A certificate is renewed two thirds into its life. A failure is retried after 1, 2,
 *   4 … minutes up to a day, each drawn from the upper half of its interval, and said
 *   (the name, when, why and what to do) in this device's facts and in `bucky status`.
 * - Each name is ordered on its own: one that fails holds up no other.
 * - Gateways of the zone that share a host name do not ask for the same name at once:
 *   for each name they rank themselves by a hash of (name, device), the same on every
 *   device, and one waits while a live gateway ranked above it is answering a challenge
 *   for the name or has not tried it yet. Nothing commands anyone.
 * - What one of them got, the others take (lib/certs/shared.ts): a name is ordered once
 *   for the zone, and its certificate outlives the gateway that ordered it.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  X509Certificate,
} from "node:crypto";
import { eq } from "drizzle-orm";
import { isRecord } from "../../protocol/shape.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { readSpecs } from "../apps/spec.ts";
import { BuckyError, isDiskFull } from "../errors.ts";
import type { CertificateFacts } from "../facts/payload.ts";
import { readZoneFacts } from "../facts/zone-facts.ts";
import {
  isApprovalKey,
  NOT_APPROVED,
  notApproved,
  ownApproval,
  unapprovedFor,
  zoneAddresses,
} from "../gateway/approval.ts";
import { type GatewayConfig, parseListen, readGateway, readTls } from "../gateway/config.ts";
import { readKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { keyGlob } from "../store/key-glob.ts";
import { state } from "../store/schema.ts";
import { standingOf } from "../sync/membership.ts";
import { type AcmeAccount, type Challenge, newAccountKey, orderCertificate } from "./acme.ts";
import {
  fellowGateways,
  ownShares,
  sharedCertificate,
  sharedCertificateKey,
  sharesWithoutMe,
  shareWrite,
} from "./shared.ts";
import { CertificateStore, type NameStatus, renewAt, type StoredCertificate } from "./store.ts";
import {
  type CertificateRequest,
  isZoneCaKey,
  readIssued,
  readRoot,
  requestKey,
} from "./zone-ca.ts";

/** How often the keeper looks (a due renewal, a backoff that ran out). */
export const KEEPER_EVERY_MS = 5_000;
/**
 * How often it looks on a device that is no gateway: it has no certificate to keep, and
 * `bucky gateway enable` (a change of the gateway's key) wakes it at once.
 */
const IDLE_EVERY_MS = 60_000;
export const RETRY_BASE_MS = 60_000;
export const RETRY_MAX_MS = 24 * 3600_000;
/** How often a gateway waiting its turn for a name looks again. */
const WAITING_TURN_EVERY_MS = 1_000;
/** How long a challenge waits for the other gateways sharing the host to serve it. */
const FELLOW_WAIT_MS = 10_000;
/** Names ordered at once, at most. */
const MAX_PARALLEL = 4;
/** The most names a gateway keeps certificates for (its host and its apps). */
export const MAX_NAMES = 100;

export const challengeKey = (device: string, token: string) => `nodes/${device}/acme/${token}`;
const CHALLENGE_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** A certificate the gateway serves: for one name (SNI), or for whatever is asked. */
export interface ServedCertificate {
  readonly serverName?: string;
  readonly cert: string;
  readonly key: string;
}

export interface KeeperOptions {
  readonly log: Log;
  readonly liveWindowMs: number;
  /** The certificates served changed: the gateway starts serving the new ones. */
  readonly onCertificates: () => void;
  /** What the facts say changed. */
  readonly onFacts: () => void;
  readonly everyMs?: number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

export class CertificateKeeper {
  private readonly store: CertificateStore;
  private readonly inFlight = new Set<string>();
  /** Each failing name's backoff, as also saved in its status. */
  private readonly backoff = new Map<string, { failures: number; nextAttemptAtMs: number }>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private unsubscribe: (() => void) | undefined;
  private servedText = "";
  private soonTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /** The names left out that the log last said (none: ""). */
  private leftOutSaid = "";
  /** This device's key, read when a fellow's certificate is first looked for. */
  private seed: Uint8Array | undefined;
  /** The ACME account key being made (or found), for the orders that start meanwhile. */
  private accountKeyMade: Promise<void> | undefined;

  constructor(
    private readonly node: NodeContext,
    private readonly options: KeeperOptions,
  ) {
    this.store = new CertificateStore(node.zone.paths);
  }

  start(): void {
    // Challenges left by a daemon that stopped half way answer nothing now.
    const stale = ownChallenges(this.node);
    if (stale.length > 0) this.node.write(stale.map((key) => ({ key, value: null })));
    const gatewayKey = `nodes/${this.node.deviceName}/gateway`;
    this.unsubscribe = this.node.onChange((changesets) => {
      const keys = changesets.flatMap((c) => c.ops.map((op) => op.key));
      // `bucky gateway enable` again is the owner acting: what waits out a backoff is
      // tried now (with an external account just given, say).
      if (keys.includes(gatewayKey)) this.clearBackoff();
      if (
        keys.some(
          (key) =>
            key.startsWith("users/") ||
            key === gatewayKey ||
            isZoneCaKey(key) ||
            isApprovalKey(key),
        )
      )
        queueMicrotask(() => this.tick());
    });
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.soonTimer);
    this.unsubscribe?.();
  }

  /**
   * The answer to an HTTP-01 challenge asked at `host` (the name the CA is checking: the
   * request's Host), from any gateway of the zone in good standing that published it for
   * that name and that the owner approved for it; undefined if none. The token is matched
   * exactly. Without the approval, any member could have the zone's gateways prove to a
   * public CA that it holds the zone's host; without the name, a member approved for one
   * name could have them prove any other name pointed at them.
   */
  static challengeAnswer(node: NodeContext, token: string, host: string): string | undefined {
    if (!CHALLENGE_TOKEN.test(token)) return undefined;
    const asked = host.toLowerCase().replace(/\.$/, "");
    const membership = node.membership();
    for (const row of node.db
      .select({ key: state.key, value: state.value })
      .from(state)
      .where(keyGlob("nodes/*/acme/*"))
      .all()) {
      const [, device, , rowToken] = row.key.split("/");
      if (rowToken !== token || !row.value || device === undefined) continue;
      const member = membership.byName.get(device);
      if (!member || standingOf(membership, member.id) !== "member") continue;
      let challenge: { name?: unknown; keyAuthorization?: unknown };
      try {
        challenge = JSON.parse(row.value);
      } catch {
        continue;
      }
      // Another row of the same token (a member can copy one it reads) hides nothing.
      if (typeof challenge?.name !== "string" || typeof challenge.keyAuthorization !== "string")
        continue;
      if (challenge.name.toLowerCase().replace(/\.$/, "") !== asked) continue;
      if (unapprovedFor(node, device, { dnsNames: [asked], addresses: [] }).length > 0) continue;
      return challenge.keyAuthorization;
    }
    return undefined;
  }

  /**
   * What the gateway serves now: SNI entries, the host's first (the default). A certificate
   * past its expiry is served still (its renewal is due, and `bucky status` warns): clients
   * then say it expired, where the gateway would otherwise go back to plain HTTP.
   */
  served(config = this.config()): ServedCertificate[] {
    if (!config?.https) return [];
    if (!config.tls || config.tls === "files") {
      try {
        const tls = readTls(this.node.zone.paths);
        return [{ cert: tls.cert, key: tls.key }];
      } catch {
        // Gone from the home: the gateway says why it cannot start.
        return [];
      }
    }
    if (config.tls === "zone") {
      const pair = this.store.readZoneCa();
      return pair ? [pair] : [];
    }
    return this.names(config).flatMap((name) => {
      const stored = this.store.read(name);
      return stored ? [{ serverName: name, cert: stored.cert, key: stored.key }] : [];
    });
  }

  /** Each certificate's expiry and last error, for this device's facts. */
  facts(): Record<string, CertificateFacts> {
    const config = this.config();
    if (!config?.https) return {};
    const statuses = this.store.statuses();
    const result: Record<string, CertificateFacts> = {};
    const say = (name: string, issuer: CertificateFacts["issuer"], cert: string | undefined) => {
      const status = statuses[name];
      const x509 = cert ? parseCertificate(cert) : undefined;
      result[name] = {
        issuer,
        ...(x509 ? { notAfter: x509.validToDate.toISOString() } : {}),
        ...(status?.lastError
          ? {
              lastError: {
                at: status.lastError.at,
                message: status.lastError.message.slice(0, 500),
                ...(status.lastError.hint ? { hint: status.lastError.hint.slice(0, 300) } : {}),
              },
            }
          : {}),
      };
    };
    if (!config.tls || config.tls === "files") {
      say(config.host ?? "gateway", "files", this.served()[0]?.cert);
    } else if (config.tls === "zone") {
      say(zoneCaName(config, this.node), "zone", this.store.readZoneCa()?.cert);
    } else {
      for (const name of this.names(config)) say(name, "acme", this.store.read(name)?.cert);
    }
    return result;
  }

  /** Looks once: what is due is started, what changed is served. */
  tick(): void {
    if (this.stopped) return;
    const config = this.config();
    try {
      // The owner's own device approves its own names (a new address, a zone from before
      // approvals): the owner key is here, so the owner is acting.
      if (this.node.zone.holdsOwnerKey) ownApproval(this.node, this.node.deviceName, true);
      if (config?.tls === "acme") this.keepAcme(config);
      else if (config?.tls === "zone") this.keepZone(config);
    } catch (error) {
      this.node.diskFull(error);
    }
    const text = JSON.stringify(this.served().map((s) => [s.serverName, s.cert]));
    if (text !== this.servedText) {
      this.servedText = text;
      this.options.onCertificates();
    }
    clearTimeout(this.timer);
    const everyMs = this.options.everyMs ?? KEEPER_EVERY_MS;
    this.timer = setTimeout(() => this.tick(), config ? everyMs : Math.max(everyMs, IDLE_EVERY_MS));
  }

  private config(): GatewayConfig | undefined {
    return readGateway(this.node.db, this.node.deviceName);
  }

  /** The host and each app's name under it: the first MAX_NAMES of them. */
  private names(config: GatewayConfig): string[] {
    return allNames(this.node, config).slice(0, MAX_NAMES);
  }

  /**
   * The names past MAX_NAMES, which get no certificate of their own (the gateway answers
   * them with the host's): for the facts, so `bucky status` says so.
   */
  leftOut(config = this.config()): { count: number; names: string[] } | undefined {
    if (config?.tls !== "acme") return undefined;
    const left = allNames(this.node, config).slice(MAX_NAMES);
    return left.length > 0 ? { count: left.length, names: left.slice(0, 10) } : undefined;
  }

  /** Says in the log, once each time they change, which names get no certificate. */
  private sayLeftOut(config: GatewayConfig): void {
    const left = this.leftOut(config);
    const said = left ? `${left.count}:${left.names.join(",")}` : "";
    if (said === this.leftOutSaid) return;
    this.leftOutSaid = said;
    if (left)
      this.options.log.warn("certificates left out", {
        max: MAX_NAMES,
        count: left.count,
        first: left.names.join(","),
      });
    this.options.onFacts();
  }

  private keepAcme(config: GatewayConfig): void {
    this.sayLeftOut(config);
    const now = this.node.now();
    const statuses = this.store.statuses();
    // Read from the other gateways' facts only when a name is due (most looks find none).
    let turns: Turns | undefined;
    const names = this.names(config);
    const unapproved = new Set(
      unapprovedFor(this.node, this.node.deviceName, { dnsNames: names, addresses: [] }),
    );
    this.unshareGone(names);
    for (const name of names) {
      if (this.inFlight.has(name)) continue;
      if (unapproved.has(name)) {
        this.sayNotApproved(name, [name]);
        continue;
      }
      const stored = this.store.read(name);
      if (stored && now < renewAt(stored.notBeforeMs, stored.notAfterMs)) {
        this.share(config, name, stored);
        continue;
      }
      if (this.adopt(name, stored)) continue;
      const nextAttemptAtMs = Math.max(
        statuses[name]?.nextAttemptAtMs ?? 0,
        this.backoff.get(name)?.nextAttemptAtMs ?? 0,
      );
      // A retry set further ahead than the longest backoff was set by a clock since set
      // back: waited for, no order went for as long as the step while the certificate aged.
      const retryMaxMs = this.options.retryMaxMs ?? RETRY_MAX_MS;
      if (now < nextAttemptAtMs && nextAttemptAtMs <= now + retryMaxMs) continue;
      // Past the most orders at once, the names after are still shared and taken above.
      if (this.inFlight.size >= MAX_PARALLEL) continue;
      turns ??= new Turns(this.node, config, this.options.liveWindowMs);
      if (!turns.mine(name, stored?.notAfterMs) || turns.awaitingShare(name)) {
        // Another gateway's turn: look again soon, not at the next round.
        this.soonTimer ??= setTimeout(() => {
          this.soonTimer = undefined;
          this.tick();
        }, WAITING_TURN_EVERY_MS);
        continue;
      }
      this.inFlight.add(name);
      void this.order(config, name).finally(() => this.inFlight.delete(name));
    }
  }

  /**
   * Shares the certificate held for `name` with the fellow gateways serving it (its key
   * sealed to each), when they or the certificate changed: a name is then ordered once
   * for the zone, and outlives the gateway that ordered it.
   */
  private share(config: GatewayConfig, name: string, held: StoredCertificate): void {
    const write = shareWrite(
      this.node,
      name,
      held.cert,
      held.key,
      fellowGateways(this.node, config, name),
    );
    if (write) this.node.write([write]);
  }

  /** Withdraws what this gateway shares for names it no longer serves (an app removed). */
  private unshareGone(names: readonly string[]): void {
    const kept = new Set(names.map((name) => sharedCertificateKey(this.node.deviceName, name)));
    const gone = ownShares(this.node).filter((key) => !kept.has(key));
    if (gone.length > 0) this.node.write(gone.map((key) => ({ key, value: null })));
  }

  /**
   * Takes a fellow gateway's certificate for `name`, when it shares one newer than the one
   * held and not yet due: nothing is ordered. True when it did.
   */
  private adopt(name: string, held: StoredCertificate | undefined): boolean {
    const shared = sharedCertificate(this.node, name, () => {
      this.seed ??= readKeyFile(this.node.zone.paths.deviceKey, "device", this.options.log);
      return this.seed;
    });
    if (!shared || this.node.now() >= renewAt(shared.notBeforeMs, shared.notAfterMs)) return false;
    if (held && held.notAfterMs >= shared.notAfterMs) return false;
    this.store.write(name, shared.cert, shared.key);
    this.backoff.delete(name);
    this.setStatus(name, { failures: 0 });
    this.options.log.info("certificate taken from a fellow gateway", {
      name,
      from: shared.from,
      notAfter: new Date(shared.notAfterMs).toISOString(),
    });
    this.options.onFacts();
    return true;
  }

  private async order(config: GatewayConfig, name: string): Promise<void> {
    const startedMs = this.node.now();
    this.options.log.debug("ordering a certificate", { name });
    try {
      await this.prepareAccount();
      const account = this.account(config);
      const issued = await orderCertificate(account, name, {
        publish: (challenge) => this.publish(name, challenge),
        withdraw: (challenge) => this.withdraw(challenge),
        account: (url) => this.rememberAccount(config, account.key, url),
      });
      if (this.stopped) return;
      this.rememberAccount(config, account.key, issued.accountUrl);
      this.store.write(name, issued.cert, issued.key);
      // Shared before the facts say it is issued: a fellow that reads those waits for its key.
      const held = this.store.read(name);
      if (held) this.share(config, name, held);
      this.backoff.delete(name);
      this.setStatus(name, { failures: 0 });
      const notAfter = parseCertificate(issued.cert)?.validToDate.toISOString();
      this.options.log.info("certificate issued", {
        name,
        notAfter,
        ms: this.node.now() - startedMs,
      });
    } catch (error) {
      if (this.stopped) return;
      this.failed(name, error);
    }
    this.options.onFacts();
    this.tick();
  }

  /**
   * A failed order: said, and tried again after the backoff. The backoff is held here too,
   * so that a status that cannot be saved (a full disk) never has the name ordered again at
   * the next look, from a CA that counts every order.
   */
  private failed(name: string, error: unknown): void {
    const problem =
      error instanceof BuckyError
        ? error
        : isDiskFull(error)
          ? new BuckyError(
              "E_IO",
              `no room on the disk to keep the certificate for ${name}`,
              "Free some space (`bucky status --disk` shows what takes it); it is tried again by itself.",
            )
          : new BuckyError(
              "E_UNAVAILABLE",
              `no certificate for ${name}: ${error instanceof Error ? error.message : String(error)}`,
              "Nothing to do now: it is tried again later by itself.",
            );
    const held = this.backoff.get(name);
    const failures = Math.max(held?.failures ?? 0, this.store.statuses()[name]?.failures ?? 0) + 1;
    const delay = Math.min(
      this.options.retryMaxMs ?? RETRY_MAX_MS,
      (this.options.retryBaseMs ?? RETRY_BASE_MS) * 2 ** (failures - 1),
    );
    const nextAttemptAtMs = this.node.now() + delay / 2 + Math.random() * (delay / 2);
    this.backoff.set(name, { failures, nextAttemptAtMs });
    this.options.log.warn("certificate not issued", {
      name,
      error: problem.message,
      failures,
      retryAt: new Date(nextAttemptAtMs).toISOString(),
    });
    try {
      this.setStatus(name, {
        failures,
        nextAttemptAtMs,
        lastError: {
          at: new Date(this.node.now()).toISOString(),
          message: problem.message,
          ...(problem.hint ? { hint: problem.hint } : {}),
        },
      });
    } catch (saving) {
      this.node.diskFull(saving);
    }
  }

  /**
   * The account URL at each directory it was made at, with the key it was made with (a
   * digest of its public half): the next order needs no new account. A URL kept without
   * its key, or for another key, is not used: the account is looked up again by the key.
   * (The first orders, made at once, each made an account key of its own, and the key
   * kept and the URL kept could be two accounts': every order after failed, renewals too.)
   */
  private accounts(): Record<string, unknown> {
    try {
      const accounts: unknown = JSON.parse(this.store.readFile("acme", "accounts.json") ?? "{}");
      return isRecord(accounts) ? accounts : {};
    } catch {
      return {};
    }
  }

  private rememberAccount(config: GatewayConfig, key: string, url: string): void {
    const accounts = this.accounts();
    const made = { url, key: publicKeyDigest(key) };
    if (JSON.stringify(accounts[config.acmeDirectory as string]) === JSON.stringify(made)) return;
    accounts[config.acmeDirectory as string] = made;
    this.store.writeFile(JSON.stringify(accounts), "acme", "accounts.json");
  }

  private account(config: GatewayConfig): AcmeAccount {
    let key = this.store.readFile("acme", "account.pem");
    const eabText = this.store.readFile("acme", "eab.json");
    const eab = eabText ? (JSON.parse(eabText) as { kid: string; hmacKey: string }) : undefined;
    if (!key) throw new BuckyError("E_INTERNAL", "the ACME account key was not made");
    key = key.trim();
    const made = this.accounts()[config.acmeDirectory as string];
    const url =
      isRecord(made) && typeof made.url === "string" && made.key === publicKeyDigest(key)
        ? made.url
        : undefined;
    return {
      directory: config.acmeDirectory as string,
      key,
      ...(eab ? { eab } : {}),
      ...(url ? { url } : {}),
    };
  }

  /**
   * Makes the ACME account key if there is none yet (before the first order), once: the
   * first orders start together, and each would otherwise make a key (and an account) of
   * its own.
   */
  prepareAccount(): Promise<void> {
    // Shared while it is under way only: a later order looks at the file again.
    this.accountKeyMade ??= this.makeAccountKey().finally(() => {
      this.accountKeyMade = undefined;
    });
    return this.accountKeyMade;
  }

  private async makeAccountKey(): Promise<void> {
    if (!this.readKey("acme", "account.pem"))
      this.store.writeFile(await newAccountKey(), "acme", "account.pem");
  }

  /**
   * A private key of the gateway's (PEM), or undefined when there is none. A file that
   * holds no key (damaged) is set aside and said, and undefined returned, for the caller
   * to make a new one: nothing can be signed with it, and read as a key it stopped the
   * daemon itself from starting (the zone CA's) or every order for good (the account's).
   */
  private readKey(...parts: string[]): string | undefined {
    const pem = this.store.readFile(...parts);
    if (pem === undefined) return undefined;
    try {
      createPrivateKey(pem);
      return pem;
    } catch {
      const aside = this.store.setAside(...parts);
      this.options.log.warn("a damaged key was set aside: a new one is made", { file: aside });
      return undefined;
    }
  }

  /**
   * Puts a challenge's answer in the zone state, then waits (a few seconds at most) until
   * the other live gateways sharing the host serve it too: the CA may reach any of them.
   */
  private async publish(name: string, challenge: Challenge): Promise<void> {
    this.node.write([
      {
        key: challengeKey(this.node.deviceName, challenge.token),
        value: JSON.stringify({ name, keyAuthorization: challenge.keyAuthorization }),
      },
    ]);
    const config = this.config();
    if (!config) return;
    const fellows = fellowListeners(this.node, config, this.options.liveWindowMs);
    const deadline = Date.now() + FELLOW_WAIT_MS;
    await Promise.all(
      fellows.map(async (base) => {
        const url = `${base}/.well-known/acme-challenge/${challenge.token}`;
        while (Date.now() < deadline && !this.stopped) {
          // Asked at the name, as the CA asks: a gateway answers a challenge at its name only.
          const answer = await fetch(url, {
            headers: { host: name },
            signal: AbortSignal.timeout(2_000),
          })
            .then((response) => (response.ok ? response.text() : undefined))
            .catch(() => undefined);
          if (answer === challenge.keyAuthorization) return;
          await Bun.sleep(100);
        }
        this.options.log.debug("a fellow gateway does not serve the challenge yet", { url });
      }),
    );
  }

  /**
   * Takes a challenge's answer back. The order does not hang on it: one left behind (the
   * write refused, the daemon stopped) answers nothing the CA asks again, and goes at the
   * next start.
   */
  private withdraw(challenge: Challenge): void {
    if (this.stopped) return;
    try {
      this.node.write([{ key: challengeKey(this.node.deviceName, challenge.token), value: null }]);
    } catch (error) {
      this.options.log.warn("a challenge's answer stays in the state until the next start", {
        error: (error as Error).message,
      });
    }
  }

  /** The owner acted: what waits is tried now, and a failure then waits a minute again. */
  private clearBackoff(): void {
    this.backoff.clear();
    const statuses = this.store.statuses();
    const waiting = Object.entries(statuses).filter(([, status]) => status.failures > 0);
    if (waiting.length === 0) return;
    for (const [name, status] of waiting) {
      const { nextAttemptAtMs: _, ...rest } = status;
      statuses[name] = { ...rest, failures: 0 };
    }
    this.store.saveStatuses(statuses);
  }

  /**
   * Says (in this device's facts, so in `bucky status` everywhere) that `name` waits for
   * the owner's approval of `unapproved`; written once, not at every look.
   */
  private sayNotApproved(name: string, unapproved: readonly string[]): void {
    const { message, hint } = notApproved(this.node.deviceName, unapproved);
    if (this.store.statuses()[name]?.lastError?.message === message) return;
    this.setStatus(name, {
      failures: 0,
      lastError: { at: new Date(this.node.now()).toISOString(), message, hint },
    });
    this.options.log.warn("certificate not approved", {
      name,
      unapproved: unapproved.join(","),
    });
    this.options.onFacts();
  }

  private setStatus(name: string, status: NameStatus): void {
    const statuses = this.store.statuses();
    statuses[name] = status;
    this.store.saveStatuses(statuses);
  }

  /**
   * The zone CA: this gateway's key (made once), its request in the zone state, and the
   * certificate a device holding the owner key issued for it, once it checks.
   */
  private keepZone(config: GatewayConfig): void {
    let keyPem = this.readKey("zone-ca", "key.pem");
    if (!keyPem) {
      const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      keyPem = pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
      this.store.writeFile(keyPem, "zone-ca", "key.pem");
    }
    const publicKey = Buffer.from(
      createPublicKey(keyPem).export({ format: "der", type: "spki" }),
    ).toString("base64url");
    const request: CertificateRequest = {
      publicKey,
      dnsNames: config.host ? [config.host, `*.${config.host}`] : [],
      addresses: zoneAddresses(config, this.node.addresses),
    };
    const key = requestKey(this.node.deviceName);
    const current = this.node.db
      .select({ value: state.value })
      .from(state)
      .where(eq(state.key, key))
      .get()?.value;
    if (current !== JSON.stringify(request))
      this.node.write([{ key, value: JSON.stringify(request) }]);
    const root = readRoot(this.node.db, this.node.zoneId, this.node.zone.zone.name);
    const issued = root ? readIssued(this.node.db, root, this.node.deviceName, request) : undefined;
    const kept = this.store.readFile("zone-ca", "cert.pem");
    const statuses = this.store.statuses();
    const name = zoneCaName(config, this.node);
    const unapproved = unapprovedFor(this.node, this.node.deviceName, request);
    if (unapproved.length > 0 && !(issued && issued.toString() !== kept)) {
      this.sayNotApproved(name, unapproved);
    } else if (issued && issued.toString() !== kept) {
      this.store.writeFile(issued.toString(), "zone-ca", "cert.pem");
      this.setStatus(name, { failures: 0 });
      this.options.log.info("certificate issued", {
        name,
        issuer: "zone CA",
        notAfter: issued.validToDate.toISOString(),
      });
      this.options.onFacts();
    } else if (
      !issued &&
      !kept &&
      (!statuses[name]?.lastError || statuses[name]?.lastError?.message.startsWith(NOT_APPROVED))
    ) {
      this.setStatus(name, {
        failures: 0,
        lastError: {
          at: new Date(this.node.now()).toISOString(),
          message: "waiting for the zone CA: a device holding the owner key issues it",
          hint: "Start the daemon of the device that made the zone (or one recovered with the phrase).",
        },
      });
      this.options.onFacts();
    }
  }
}

/**
 * Whose turn a name is, among the zone's live ACME gateways serving it: ranked by
 * SHA-256 of (name, device id), highest first; a gateway's turn comes once every gateway
 * ranked above it has tried the name (its facts name the name) and none is answering a
 * challenge for it.
 */
export function isMyTurn(
  name: string,
  me: string,
  gateways: readonly {
    readonly id: string;
    readonly tried: ReadonlySet<string>;
    readonly pending: ReadonlySet<string>;
  }[],
): boolean {
  const rank = (id: string) => createHash("sha256").update(`${name}\n${id}`).digest("hex");
  const ranked = [...gateways].sort((a, b) => compareCodeUnits(rank(b.id), rank(a.id)));
  for (const gateway of ranked) {
    if (gateway.id === me) return true;
    if (gateway.pending.has(name) || !gateway.tried.has(name)) return false;
  }
  return true;
}

/**
 * Where the other live ACME gateways sharing this host serve plain HTTP
 * (`http://host:port`): their listen address, or their device's published one.
 */
function fellowListeners(node: NodeContext, config: GatewayConfig, liveWindowMs: number): string[] {
  const peers = node.peers();
  return readZoneFacts(node.db, node.membership(), node.now(), liveWindowMs).flatMap((device) => {
    if (device.id === node.deviceId || !device.live) return [];
    const theirs = readGateway(node.db, device.name);
    if (theirs?.tls !== "acme" || theirs.host !== config.host || !theirs.httpListen) return [];
    const { host, port } = parseListen(theirs.httpListen);
    const published = peers.find((peer) => peer.name === device.name)?.addresses[0];
    const address =
      host === "0.0.0.0" || host === "::"
        ? published
          ? new URL(published).hostname
          : undefined
        : host.includes(":")
          ? `[${host}]`
          : host;
    return address ? [`http://${address}:${port}`] : [];
  });
}

/** The other live ACME gateways of the zone, what they tried and what they are answering. */
class Turns {
  private readonly others: {
    id: string;
    name: string;
    host: string;
    certificates: Record<string, CertificateFacts>;
    pending: Set<string>;
  }[] = [];

  constructor(node: NodeContext, config: GatewayConfig, liveWindowMs: number) {
    const devices = readZoneFacts(node.db, node.membership(), node.now(), liveWindowMs);
    for (const device of devices) {
      if (device.id === node.deviceId || !device.live) continue;
      const theirs = readGateway(node.db, device.name);
      if (theirs?.tls !== "acme" || theirs.host !== config.host || !theirs.host) continue;
      // A gateway the owner did not approve for the host never gets its turn: none waits on it.
      if (unapprovedFor(node, device.name, { dnsNames: [theirs.host], addresses: [] }).length > 0)
        continue;
      const pending = new Set<string>();
      for (const row of node.db
        .select({ value: state.value })
        .from(state)
        .where(keyGlob(`nodes/${device.name}/acme/*`))
        .all()) {
        try {
          pending.add((JSON.parse(row.value ?? "{}") as { name?: string }).name ?? "");
        } catch {
          // Not a challenge.
        }
      }
      this.others.push({
        id: device.id,
        name: device.name,
        host: theirs.host,
        certificates: device.facts.certificates ?? {},
        pending,
      });
    }
    this.me = node.deviceId;
    this.node = node;
  }

  private readonly node: NodeContext;

  /** Whether a live fellow holds a current certificate for `name` it has yet to seal to this one. */
  awaitingShare(name: string): boolean {
    const now = this.node.now();
    return this.others.some((other) => sharesWithoutMe(this.node, other.name, name, now));
  }

  private readonly me: string;

  /**
   * Whether this gateway orders `name` now. Another has tried it when it said why not, or
   * holds a certificate for it newer than the one held here (`heldNotAfterMs`, for a
   * renewal): gateways sharing a certificate are due at once, and the first in turn renews
   * it for all, where each renewed its own.
   */
  mine(name: string, heldNotAfterMs?: number): boolean {
    if (this.others.length === 0) return true;
    // One already answering a challenge for it (it began before this one was approved, say)
    // is let finish, whatever its rank: its certificate is shared then.
    if (this.others.some((other) => other.pending.has(name))) return false;
    const tried = (certificates: Record<string, CertificateFacts>) => {
      const cert = certificates[name];
      if (!cert) return new Set<string>();
      const renewed =
        cert.notAfter !== undefined &&
        (heldNotAfterMs === undefined || Date.parse(cert.notAfter) > heldNotAfterMs);
      return renewed || cert.lastError !== undefined ? new Set([name]) : new Set<string>();
    };
    return isMyTurn(name, this.me, [
      ...this.others.map((other) => ({
        id: other.id,
        tried: tried(other.certificates),
        pending: other.pending,
      })),
      { id: this.me, tried: new Set(), pending: new Set() },
    ]);
  }
}

function ownChallenges(node: NodeContext): string[] {
  return node.db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(keyGlob(`nodes/${node.deviceName}/acme/*`))
    .all()
    .filter((row) => row.value !== null)
    .map((row) => row.key);
}

function zoneCaName(config: GatewayConfig, node: NodeContext): string {
  return config.host ?? zoneAddresses(config, node.addresses)[0] ?? "gateway";
}

/** A digest of a private key's public half: which account key an account URL belongs to. */
function publicKeyDigest(keyPem: string): string {
  const spki = createPublicKey(keyPem).export({ format: "der", type: "spki" });
  return createHash("sha256").update(spki).digest("base64url");
}

function parseCertificate(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** The host and each app's name under it, in order: the host, then the apps by name. */
function allNames(node: NodeContext, config: GatewayConfig): string[] {
  if (!config.host) return [];
  const apps = readSpecs(node.db)
    .filter((spec) => spec.desired !== "removed")
    .map((spec) => `${spec.app}.${config.host}`)
    .sort(compareCodeUnits);
  return [config.host, ...apps];
}
