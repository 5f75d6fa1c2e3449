import { describe, expect, test } from "bun:test";
import { formatImageRef, parseImageRef } from "./image-ref.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("parseImageRef", () => {
  test.each([
    ["nginx", { registry: "docker.io", repository: "library/nginx" }],
    ["nginx:1.27", { registry: "docker.io", repository: "library/nginx", tag: "1.27" }],
    ["team/app:v2", { registry: "docker.io", repository: "team/app", tag: "v2" }],
    ["docker.io/nginx", { registry: "docker.io", repository: "library/nginx" }],
    ["index.docker.io/library/nginx", { registry: "docker.io", repository: "library/nginx" }],
    ["ghcr.io/owner/photos:1.4", { registry: "ghcr.io", repository: "owner/photos", tag: "1.4" }],
    ["localhost/site", { registry: "localhost", repository: "site" }],
    [
      "127.0.0.1:5000/a/b/c:latest",
      { registry: "127.0.0.1:5000", repository: "a/b/c", tag: "latest" },
    ],
    [
      `registry.example/photos:1.4@${DIGEST}`,
      { registry: "registry.example", repository: "photos", tag: "1.4", digest: DIGEST },
    ],
    [`photos@${DIGEST}`, { registry: "docker.io", repository: "library/photos", digest: DIGEST }],
    ["[::1]:5000/x", { registry: "[::1]:5000", repository: "x" }],
    [
      "my_app-x.y__z:V1_.x-2",
      { registry: "docker.io", repository: "library/my_app-x.y__z", tag: "V1_.x-2" },
    ],
  ])("reads %s", (text, ref) => {
    expect(parseImageRef(text)).toEqual({ ok: true, ref });
  });

  test.each([
    ["", "it is empty"],
    ["Nginx", '"Nginx" is not a repository name part (lowercase letters, digits and . _ -)'],
    ["nginx:", '"" is not a tag (letters, digits, _ . -, up to 128)'],
    ["nginx@sha256:abc", "its digest must be sha256: and 64 lowercase hex digits"],
    [`nginx@sha512:${"a".repeat(128)}`, "its digest must be sha256: and 64 lowercase hex digits"],
    ["a//b", '"" is not a repository name part (lowercase letters, digits and . _ -)'],
    ["nginx latest", "it has spaces or control characters"],
    ["x\u001b[31m", "it has spaces or control characters"],
    ["-bad.host/x", '"-bad.host" is not a registry host'],
    ["a".repeat(513), "it is longer than 512 characters"],
    [
      `nginx:${"t".repeat(129)}`,
      `"${"t".repeat(129)}" is not a tag (letters, digits, _ . -, up to 128)`,
    ],
  ])("refuses %j", (text, reason) => {
    expect(parseImageRef(text)).toEqual({ ok: false, reason });
  });

  test("writes a reference out in full, and reads it back the same", () => {
    for (const text of ["nginx:1", `ghcr.io/o/p:1@${DIGEST}`, "127.0.0.1:5000/x"]) {
      const parsed = parseImageRef(text);
      if (!parsed.ok) throw new Error(parsed.reason);
      const again = parseImageRef(formatImageRef(parsed.ref));
      expect(again).toEqual(parsed);
    }
    const nginx = parseImageRef("nginx:1");
    expect(nginx.ok && formatImageRef(nginx.ref)).toBe("docker.io/library/nginx:1");
  });
});
