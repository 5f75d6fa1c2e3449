/**
 * App specs for tests, whole as an install writes them: every reader checks a spec's
 * shape (lib/apps/spec.ts parseSpec), so a spec with fields left out reads as no spec.
 */
import { checkManifest } from "../../protocol/app-manifest.ts";
import type { AppSpec } from "./spec.ts";

export const TEST_PACKAGE = `sha256:${"ab".repeat(32)}` as AppSpec["package"];

/** A checked manifest of app `id`: a process app, or an image app when `fields.run` names an image. */
export function testManifest(id: string, fields: Record<string, unknown> = {}) {
  const image = typeof fields.run === "object" && fields.run !== null && "image" in fields.run;
  const checked = checkManifest({
    id,
    version: "1.0.0",
    ...(image
      ? {}
      : { run: { command: ["bun", "server.ts"] }, http: {}, health: { path: "/health" } }),
    ...fields,
  });
  if (!checked.ok) throw new Error(checked.problems.join("; "));
  return checked.manifest;
}

/** The spec of app `app`, running anywhere from TEST_PACKAGE, with `fields` over it. */
export function testSpec(app: string, fields: Partial<AppSpec> = {}): AppSpec {
  return {
    app,
    version: "1.0.0",
    package: TEST_PACKAGE,
    manifest: testManifest(app),
    placement: "any",
    desired: "running",
    updatedAt: "2026-11-29T10:00:00.000Z",
    ...fields,
  };
}
