/**
 * Where a gateway keeps its certificates, in its home, every file mode 0600 in
 * directories mode 0700:
 *
 *   <home>/gateway/certs/<name>/cert.pem, key.pem   one per name, from ACME
 *   <home>/gateway/certs/status.json                per name: failures, next attempt, last error
 *   <home>/gateway/acme/account.pem, eab.json       the ACME account key, an external account
 *   <home>/gateway/zone-ca/key.pem, cert.pem        the gateway's key and its zone CA certificate
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { isHostName } from "../../protocol/names.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import type { HomePaths } from "../home.ts";

export interface NameStatus {
  /** Failures in a row since the last success. */
  readonly failures: number;
  /** Not before this (ms): the backoff after a failure. */
  readonly nextAttemptAtMs?: number;
  readonly lastError?: { readonly at: string; readonly message: string; readonly hint?: string };
}

export interface StoredCertificate {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

export class CertificateStore {
  readonly dir: string;

  constructor(paths: HomePaths) {
    this.dir = join(paths.home, "gateway");
  }

  /**
   * The certificate kept for `name`, or undefined (none, unreadable, or not of the key kept
   * beside it: the gateway cannot serve that pair, so it is ordered again).
   */
  read(name: string): StoredCertificate | undefined {
    const dir = this.nameDir(name);
    try {
      const cert = readFileSync(join(dir, "cert.pem"), "utf8");
      const key = readFileSync(join(dir, "key.pem"), "utf8");
      const x509 = new X509Certificate(cert);
      if (!isPair(x509, key)) return undefined;
      return {
        name,
        cert,
        key,
        notBeforeMs: x509.validFromDate.getTime(),
        notAfterMs: x509.validToDate.getTime(),
      };
    } catch {
      return undefined;
    }
  }

  write(name: string, cert: string, key: string): void {
    const dir = this.nameDir(name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The key first: a certificate is never kept without its key. A renewal cut short
    // between the two leaves the new key beside the old certificate: read() sees that.
    writeFileAtomic(join(dir, "key.pem"), key, 0o600);
    writeFileAtomic(join(dir, "cert.pem"), cert, 0o600);
  }

  /** The zone CA's certificate and the gateway's key, when both are there and go together. */
  readZoneCa(): { cert: string; key: string } | undefined {
    const cert = this.readFile("zone-ca", "cert.pem");
    const key = this.readFile("zone-ca", "key.pem");
    if (cert === undefined || key === undefined) return undefined;
    try {
      return isPair(new X509Certificate(cert), key) ? { cert, key } : undefined;
    } catch {
      return undefined;
    }
  }

  statuses(): Record<string, NameStatus> {
    try {
      return JSON.parse(readFileSync(join(this.dir, "certs", "status.json"), "utf8"));
    } catch {
      return {};
    }
  }

  saveStatuses(statuses: Record<string, NameStatus>): void {
    mkdirSync(join(this.dir, "certs"), { recursive: true, mode: 0o700 });
    writeFileAtomic(join(this.dir, "certs", "status.json"), JSON.stringify(statuses), 0o600);
  }

  /** A file of the gateway's (account key, zone CA key…), or undefined. */
  readFile(...parts: string[]): string | undefined {
    const path = join(this.dir, ...parts);
    return existsSync(path) ? readFileSync(path, "utf8") : undefined;
  }

  writeFile(text: string, ...parts: string[]): void {
    const path = join(this.dir, ...parts);
    mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
    writeFileAtomic(path, text, 0o600);
  }

  /**
   * Moves a file of the gateway's aside, to `<file>.damaged` (kept, not deleted), and says
   * where it went.
   */
  setAside(...parts: string[]): string {
    const path = join(this.dir, ...parts);
    const aside = `${path}.damaged`;
    renameSync(path, aside);
    return aside;
  }

  private nameDir(name: string): string {
    if (!isHostName(name)) throw new Error(`not a host name: ${JSON.stringify(name)}`);
    return join(this.dir, "certs", name);
  }
}

/**
 * Whether `cert` goes with the private key `keyPem`. The gateway serves all its names from
 * one listener, which does not start with a pair that does not go together: one such pair
 * kept the gateway down, its port 80 too, so nothing could renew it.
 */
function isPair(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** When a certificate is due for renewal, from ACME or the zone CA: two thirds into its life. */
export function renewAt(notBeforeMs: number, notAfterMs: number): number {
  return notBeforeMs + ((notAfterMs - notBeforeMs) * 2) / 3;
}
