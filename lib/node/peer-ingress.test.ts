import { describe, expect, test } from "bun:test";
import type { Server } from "bun";
import type { IngressViewers } from "../gateway/app-user.ts";
import type { BridgeData } from "../gateway/forward.ts";
import { createLog } from "../log.ts";
import type { NodeContext } from "./node-context.ts";
import { isIngressUrl, serveIngress } from "./peer-ingress.ts";

describe("which requests take the ingress's path", () => {
  test("a path under /v1/ingress/, whatever the host and query", () => {
    expect(isIngressUrl("https://10.0.0.1:4000/v1/ingress/notes/")).toBe(true);
    expect(isIngressUrl("https://[::1]:4000/v1/ingress/notes?x=1")).toBe(true);
    expect(isIngressUrl("http://h/v1/ingress/")).toBe(true);
  });

  test("nothing else, however the prefix appears elsewhere", () => {
    for (const url of [
      "https://h/v1/ingress",
      "https://h/v1/ingressx/notes/",
      "https://h/v1/sync/pull?next=/v1/ingress/notes/",
      "https://h/x/v1/ingress/notes/",
      "https://h/V1/ingress/notes/",
      "https://h",
    ])
      expect(isIngressUrl(url)).toBe(false);
  });

  test("a path that parses out of the ingress (dot segments) is not found, before anything else", async () => {
    // Nothing of the node is touched: the request is answered before the caller is checked.
    const node = new Proxy({} as NodeContext, {
      get: (_, name) => {
        throw new Error(`the node was asked for ${String(name)}`);
      },
    });
    const request = new Request("https://h/v1/ingress/../sync/pull");
    // Request normalises the URL it is given: the server hands the raw one on.
    Object.defineProperty(request, "url", { value: "https://h/v1/ingress/x/../../sync/pull" });
    const response = await serveIngress(
      node,
      createLog({ level: "silent" }),
      (error) => {
        throw error;
      },
      {} as IngressViewers,
      request,
      {} as Server<BridgeData>,
    );
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("E_NOT_FOUND");
  });
});
