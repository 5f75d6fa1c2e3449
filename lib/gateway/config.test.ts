import { describe, expect, test } from "bun:test";
import { parseGateway } from "./config.ts";

describe("another device's gateway configuration (nodes/<device>/gateway)", () => {
  const config = { listen: "0.0.0.0:443", host: "zone.test", https: true, tls: "acme" as const };

  test("reads as written when of its shape", () => {
    expect(parseGateway(JSON.stringify(config))).toEqual(config);
    const plain = { listen: "127.0.0.1:8080", host: null, https: false };
    expect(parseGateway(JSON.stringify(plain))).toEqual(plain);
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
    ])
      expect(parseGateway(text)).toBeUndefined();
  });
});
