import { describe, expect, test } from "bun:test";
import { MAX_REMEMBER_MS, StateBoundMemo } from "./state-bound-memo.ts";

/** A node's clock and change signals, moved by hand. */
function fakeNode() {
  const changes: (() => void)[] = [];
  const rebases: (() => void)[] = [];
  const node = {
    nowMs: 1_000_000,
    now: () => node.nowMs,
    onChange: (listener: () => void) => {
      changes.push(listener);
      return () => void changes.splice(changes.indexOf(listener), 1);
    },
    onRebase: (listener: () => void) => {
      rebases.push(listener);
      return () => void rebases.splice(rebases.indexOf(listener), 1);
    },
    change: () => {
      for (const listener of [...changes]) listener();
    },
    rebase: () => {
      for (const listener of [...rebases]) listener();
    },
  };
  return node;
}

/** A memo over a counted piece of work: what it answers, and whether to keep it. */
function counted(node: ReturnType<typeof fakeNode>) {
  const memo = new StateBoundMemo<string>(node);
  let works = 0;
  const ask = (key: string, keepForMs?: number) =>
    memo.get(key, async () => {
      works += 1;
      return {
        answer: `${key} #${works}`,
        ...(keepForMs === undefined ? {} : { keepUntilMs: node.nowMs + keepForMs }),
      };
    });
  return { memo, ask, works: () => works };
}

describe("StateBoundMemo", () => {
  test("an answer kept is given again without the work, each key its own", async () => {
    const node = fakeNode();
    const { ask, works } = counted(node);
    expect(await ask("a", 10_000)).toBe("a #1");
    expect(await ask("a", 10_000)).toBe("a #1");
    expect(await ask("b", 10_000)).toBe("b #2");
    expect(works()).toBe(2);
  });

  test("a remembered answer is given at once, not a turn later", async () => {
    const node = fakeNode();
    const { ask } = counted(node);
    const first = ask("a", 10_000);
    expect(first).toBeInstanceOf(Promise);
    await first;
    expect(ask("a", 10_000)).toBe("a #1");
  });

  test("an answer not kept is worked out every time", async () => {
    const node = fakeNode();
    const { ask, works } = counted(node);
    await ask("bad");
    await ask("bad");
    expect(works()).toBe(2);
  });

  test("a change of the state, or a checkpoint replacing it, forgets every answer", async () => {
    const node = fakeNode();
    const { ask, works } = counted(node);
    await ask("a", 10_000);
    node.change();
    expect(await ask("a", 10_000)).toBe("a #2");
    node.rebase();
    expect(await ask("a", 10_000)).toBe("a #3");
    expect(works()).toBe(3);
  });

  test("an answer ends when it said, and after MAX_REMEMBER_MS whatever it said", async () => {
    const node = fakeNode();
    const { ask } = counted(node);
    await ask("short", 5_000);
    await ask("long", 10 * MAX_REMEMBER_MS);
    node.nowMs += 5_000;
    expect(await ask("short", 5_000)).toBe("short #3");
    node.nowMs += MAX_REMEMBER_MS - 5_000;
    expect(await ask("long", 10 * MAX_REMEMBER_MS)).toBe("long #4");
  });

  test("an answer worked out while the state changed is given, not kept", async () => {
    const node = fakeNode();
    const memo = new StateBoundMemo<string>(node);
    let works = 0;
    const slow = () =>
      memo.get("a", async () => {
        works += 1;
        if (works === 1) node.change();
        return { answer: `#${works}`, keepUntilMs: node.nowMs + 10_000 };
      });
    expect(await slow()).toBe("#1");
    expect(await slow()).toBe("#2");
    expect(await slow()).toBe("#2");
  });

  test("stopped, it hears no more changes", async () => {
    const node = fakeNode();
    const { memo, ask } = counted(node);
    memo.stop();
    await ask("a", 10_000);
    node.change();
    expect(await ask("a", 10_000)).toBe("a #1");
  });
});
