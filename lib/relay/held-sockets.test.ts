/** A relay counts the sockets it holds by where they come from: an IPv6 host by its /64. */
import { describe, expect, test } from "bun:test";
import { HeldSockets, rangeOf } from "./held-sockets.ts";

describe("where a relay's sockets come from", () => {
  test("an IPv6 address is counted by its /64; others as they are", () => {
    expect(rangeOf("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(rangeOf("2001:0DB8:0001:0002:ffff:0:0:9")).toBe("2001:db8:1:2::/64");
    expect(rangeOf("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(rangeOf("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(rangeOf("::1")).toBe("0:0:0:0::/64");
    for (const other of ["192.0.2.7", "::ffff:192.0.2.7", "local", "1:2:3", "1::2::3", "zz::1"])
      expect(rangeOf(other)).toBe(other);
  });

  test("one host's many addresses of a /64 share its bound; another range has its own", () => {
    const held = new HeldSockets(2, 100);
    held.add("2001:db8:1:2::a");
    held.add("2001:db8:1:2::b");
    expect(held.full("2001:db8:1:2::c")).toBe(true);
    expect(held.full("2001:db8:1:3::a")).toBe(false);
    held.remove("2001:db8:1:2::a");
    expect(held.full("2001:db8:1:2::c")).toBe(false);
  });
});
