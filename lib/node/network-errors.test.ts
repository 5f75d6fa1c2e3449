import { describe, expect, test } from "bun:test";
import { isConnectionFailure, networkProblem, neverSent } from "./network-errors.ts";

describe("networkProblem", () => {
  test("a refused connection, as the runtime reports it, in plain words", async () => {
    const error = await fetch("http://127.0.0.1:1/").catch((e: unknown) => e);
    expect(networkProblem(error)).toBe("nothing is listening there");
  });

  test("a connection the other side cut, with no advice to developers", async () => {
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { open: (socket) => void socket.end(), data: () => {} },
    });
    try {
      const error = await fetch(`http://127.0.0.1:${server.port}/`).catch((e: unknown) => e);
      expect(networkProblem(error)).toBe("the connection was cut");
    } finally {
      server.stop(true);
    }
  });

  test("a timeout, and an unknown error keeps only its first sentence", () => {
    expect(networkProblem(new DOMException("timed out", "TimeoutError"))).toBe("no answer in time");
    const odd = Object.assign(
      new Error(
        "EWEIRD: Something odd. For more information, pass `verbose: true` in the second argument to fetch()",
      ),
      { code: "EWEIRD" },
    );
    expect(networkProblem(odd)).toBe("Something odd.");
  });
});

describe("neverSent", () => {
  test("a refused connection never sent the request; a cut one or a timeout may have", async () => {
    expect(neverSent(await fetch("http://127.0.0.1:1/").catch((e: unknown) => e))).toBe(true);
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { data: (socket) => void socket.end() },
    });
    try {
      const cut = await fetch(`http://127.0.0.1:${server.port}/`).catch((e: unknown) => e);
      expect(neverSent(cut)).toBe(false);
    } finally {
      server.stop(true);
    }
    expect(neverSent(new DOMException("timed out", "TimeoutError"))).toBe(false);
  });
});

test("isConnectionFailure: a connection's failure or a timeout, never a fault of the code that met it", () => {
  const coded = (code: string) => Object.assign(new TypeError(`${code}: it failed`), { code });
  expect(
    [
      coded("ECONNRESET"),
      coded("ConnectionClosed"),
      new DOMException("late", "TimeoutError"),
      coded("ERR_SOMETHING_ELSE"),
      new TypeError("undefined is not a function"),
      "ECONNRESET",
    ].map(isConnectionFailure),
  ).toEqual([true, true, true, false, false, false]);
});
