/**
 * Sign-in attempts are limited per person and per client address, and each refusal is
 * logged with its reason, never with the password. (The whole way in, passwords and
 * passkeys at real gateways, is tested end to end in test/accounts*.test.ts.)
 */
import { describe, expect, test } from "bun:test";
import type { Role, UserName } from "../../protocol/accounts.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { Person } from "./directory.ts";
import {
  ADDRESS_BURST,
  ADDRESS_REFILL_S,
  PERSON_BURST,
  PERSON_REFILL_S,
  type Place,
  SignIn,
  TooManyAttempts,
  WRONG,
} from "./signin.ts";

function gateway(names: readonly string[]) {
  let now = 1_000_000;
  const people = new Map<string, Person>(
    names.map((name) => [
      name,
      {
        name: name as UserName,
        role: "member" as Role,
        rev: 1,
        creds: 1,
        changedAtMs: 0,
        credentials: new Map(),
      },
    ]),
  );
  const lines: string[] = [];
  const node = {
    people: () => ({ people, revs: new Map() }),
    // One gateway of its own: no other gateway recorded wrong passwords (sign-in-failures.ts).
    membership: () => ({ byName: new Map(), byId: new Map() }),
    now: () => now,
  } as unknown as NodeContext;
  const signIn = new SignIn(node, createLog({ level: "info", write: (line) => lines.push(line) }));
  return {
    signIn,
    lines,
    later: (ms: number) => {
      now += ms;
    },
  };
}

const from = (client: string): Place => ({
  client,
  origin: "https://home.example",
  rpId: "home.example",
});

/** What one attempt comes to: refused (E_PERMISSION), or limited (TooManyAttempts). */
async function attempt(signIn: SignIn, name: string, place: Place): Promise<string> {
  try {
    await signIn.passkeyOptions(name, place);
    return "signed in";
  } catch (error) {
    if (error instanceof TooManyAttempts) return `limited ${error.retryAfterS}s`;
    if (error instanceof BuckyError && error.code === "E_PERMISSION") return error.message;
    throw error;
  }
}

describe("sign-in attempts", () => {
  test("past a burst for one person, that person waits; another does not", async () => {
    const { signIn, later } = gateway(["ann", "bob"]);
    for (let i = 0; i < PERSON_BURST; i++)
      expect(await attempt(signIn, "ann", from(`10.0.0.${i}`))).toBe(WRONG);
    expect(await attempt(signIn, "ann", from("10.0.1.1"))).toBe(`limited ${PERSON_REFILL_S}s`);
    expect(await attempt(signIn, "bob", from("10.0.1.1"))).toBe(WRONG);
    later(PERSON_REFILL_S * 1000);
    expect(await attempt(signIn, "ann", from("10.0.1.1"))).toBe(WRONG);
  });

  test("names that are no one's share one person's limit", async () => {
    const { signIn } = gateway([]);
    for (let i = 0; i < PERSON_BURST; i++)
      expect(await attempt(signIn, `nobody${i}`, from(`10.0.0.${i}`))).toBe(WRONG);
    expect(await attempt(signIn, "someone-else", from("10.0.9.9"))).toBe(
      `limited ${PERSON_REFILL_S}s`,
    );
  });

  test("past a burst from one address, that address waits; another does not", async () => {
    const names = Array.from(
      { length: Math.ceil(ADDRESS_BURST / PERSON_BURST) + 1 },
      (_, i) => `p${i}`,
    );
    const { signIn } = gateway(names);
    for (let i = 0; i < ADDRESS_BURST; i++)
      expect(
        await attempt(signIn, names[Math.floor(i / PERSON_BURST)] as string, from("10.0.0.1")),
      ).toBe(WRONG);
    expect(await attempt(signIn, names.at(-1) as string, from("10.0.0.1"))).toBe(
      `limited ${ADDRESS_REFILL_S}s`,
    );
    expect(await attempt(signIn, names.at(-1) as string, from("10.0.0.2"))).toBe(WRONG);
  });

  test("every refusal is logged with its reason; a password never is", async () => {
    const { signIn, lines } = gateway(["ann"]);
    await signIn.withPassword("ann", "hunter2-secret", from("10.0.0.7")).catch(() => undefined);
    await attempt(signIn, "ann", from("10.0.0.7"));
    expect(lines.join("")).toContain(
      'sign-in refused user=ann with=password client=10.0.0.7 reason="no password set up"',
    );
    expect(lines.join("")).toContain("sign-in refused user=ann with=passkey client=10.0.0.7");
    expect(lines.join("")).not.toContain("hunter2");
  });
});
