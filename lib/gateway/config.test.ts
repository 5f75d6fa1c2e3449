import { describe, expect, test } from "bun:test";
import { parseGateway } from "./config.ts";

describe("another device's gateway configuration (nodes/<device>/gateway)", () => {
  const config = { listen: "0.0.0.0:443", host: "zone.test", https: true, tls: "acme" as const };

  test("reads as written when of its shape", () => {
    expect(parseGateway(JSON.stringify(config))).toEqual(config);
    const plain = { listen: "127.0.0.1:8080", host: null, https: false };
    expect(parseGateway(JSON.stringify(plain))).toEqual(plain);
    for (const listen of [
      ":443",
      "[::1]:443",
      "[::]:8080",
      "nas.local:8080",
      "NAS:8080",
      "10.0.0.2:80",
    ])
      expect(parseGateway(JSON.stringify({ ...plain, listen }))).toEqual({ ...plain, listen });
  });

  test("reads as no gateway when it is not, rather than failing status and sign-in", () => {
    for (const text of [
      "null",
      "5",
      "[]",
      JSON.stringify({ ...config, listen: null }),
      JSON.stringify({ ...config, listen: "nowhere" }),
      JSON.stringify({ ...config, https: "yes" }),
      JSON.stringify({ ...config, host: 5 }),
      JSON.stringify({ ...config, tls: "maybe" }),
      JSON.stringify({ ...config, httpListen: "x" }),
      // Its host and listen address are shown as the zone's (bucky status, an app's
      // addresses): a name of their kind, or it is no gateway.
      JSON.stringify({
        ...config,
        host: "zone.test\nthe owner must run: bucky devices revoke nas",
      }),
      JSON.stringify({ ...config, host: "zone.test@evil.test" }),
      JSON.stringify({ ...config, host: null, listen: "evil.test/\u001b[2K:8080" }),
      JSON.stringify({ ...config, host: null, listen: "zone.test@evil.test:8080" }),
      JSON.stringify({ ...config, httpListen: "a b:80" }),
      // Brackets hold an IPv6 address, or it is no listen address.
      JSON.stringify({ ...config, listen: "[1::2::3]:443" }),
      JSON.stringify({ ...config, listen: "[::0:]:443" }),
      JSON.stringify({ ...config, listen: "[12345::]:443" }),
    ])
      expect([text, parseGateway(text)]).toEqual([text, undefined]);
  });
});
