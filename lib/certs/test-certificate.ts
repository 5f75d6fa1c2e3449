/** For tests: a self-signed certificate and its key, made by openssl as an operator would. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A self-signed P-256 certificate for the DNS name `name`, good for `days`, as PEM. */
export function selfSignedCertificate(name: string, days = 1): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "bucky-cert-"));
  try {
    const made = spawnSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      String(days),
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=DNS:${name}`,
    ]);
    if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
    return {
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
      key: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
