import { describe, expect, test } from "bun:test";
import { clientAddress, ruleClientAddress } from "./client-address.ts";

describe("client addresses as rules name them", () => {
  test("a rule's address: IPv4 as it is, mapped IPv6 as its IPv4, IPv6 compressed and lowercased", () => {
    expect(ruleClientAddress("192.0.2.7")).toBe("192.0.2.7");
    expect(ruleClientAddress("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(ruleClientAddress("::FFFF:192.0.2.7")).toBe("192.0.2.7");
    expect(ruleClientAddress("2001:0DB8:0:0::1")).toBe("2001:db8::1");
  });

  test("anything else is none", () => {
    for (const text of ["notanip", "", "192.0.2", "010.0.2.7", "fe80::1%eth0", "192.0.2.7/24"])
      expect(ruleClientAddress(text)).toBeUndefined();
  });

  test("the address the gateway saw, mapped or not, reads as the rule names it", () => {
    expect(clientAddress("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(clientAddress("192.0.2.7")).toBe("192.0.2.7");
    expect(clientAddress("2001:db8::1")).toBe("2001:db8::1");
    expect(clientAddress("::1")).toBe("::1");
  });
});
