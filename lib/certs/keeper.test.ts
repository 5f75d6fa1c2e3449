import { describe, expect, test } from "bun:test";
import { isMyTurn, renewAt } from "./keeper.ts";

describe("renewal", () => {
  test("is due two thirds into a certificate's life", () => {
    expect(renewAt(0, 90)).toBe(60);
    expect(renewAt(1000, 16_000)).toBe(11_000);
  });
});

describe("whose turn a name is among gateways sharing a host", () => {
  const gateways = (tried: Record<string, string[]>, pending: Record<string, string[]> = {}) =>
    Object.keys(tried).map((id) => ({
      id,
      tried: new Set(tried[id]),
      pending: new Set(pending[id] ?? []),
    }));

  test("exactly one gateway goes first for each name, the same one whoever asks", () => {
    const ids = ["da", "db", "dc"];
    for (const name of ["home.example.com", "notes.home.example.com", "a.home.example.com"]) {
      const none = gateways({ da: [], db: [], dc: [] });
      const first = ids.filter((id) => isMyTurn(name, id, none));
      expect(first).toHaveLength(1);
      // The order does not depend on who lists the gateways, nor in what order.
      expect(ids.filter((id) => isMyTurn(name, id, [...none].reverse()))).toEqual(first);
    }
  });

  test("the next one waits until the first tried, and while it answers a challenge", () => {
    const name = "notes.home.example.com";
    const none = gateways({ da: [], db: [] });
    const [first, second] = ["da", "db"].sort((a) => (isMyTurn(name, a, none) ? -1 : 1)) as [
      string,
      string,
    ];
    expect(isMyTurn(name, second, none)).toBe(false);
    const triedAndAnswering = gateways({ [first]: [name], [second]: [] }, { [first]: [name] });
    expect(isMyTurn(name, second, triedAndAnswering)).toBe(false);
    const tried = gateways({ [first]: [name], [second]: [] });
    expect(isMyTurn(name, second, tried)).toBe(true);
  });
});
