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

/**
 * What one attempt comes to: refused (E_PERMISSION), limited (TooManyAttempts) or busy
 * (E_UNAVAILABLE); by passkey unless said, or by password.
 */
async function attempt(
  signIn: SignIn,
  name: string,
  place: Place,
  by: "passkey" | "password" = "passkey",
): Promise<string> {
  try {
    if (by === "passkey") await signIn.passkeyOptions(name, place);
    else await signIn.withPassword(name, "a wrong password", place);
    return "signed in";
  } catch (error) {
    if (error instanceof TooManyAttempts) return `limited ${error.retryAfterS}s`;
    if (error instanceof BuckyError && error.code === "E_PERMISSION") return error.message;
    if (error instanceof BuckyError && error.code === "E_UNAVAILABLE") return "busy";
    throw error;
  }
}

/** Each password attempt runs Argon2id (64 MiB): a dozen of them take seconds on a busy box. */
const HASHING_TEST_MS = 30_000;

describe("sign-in attempts", () => {
  test(
    "past a burst of passwords for one person, that person waits; another does not",
    async () => {
      const { signIn, later } = gateway(["ann", "bob"]);
      for (let i = 0; i < PERSON_BURST; i++)
        expect(await attempt(signIn, "ann", from(`10.0.0.${i}`), "password")).toBe(WRONG);
      expect(await attempt(signIn, "ann", from("10.0.1.1"), "password")).toBe(
        `limited ${PERSON_REFILL_S}s`,
      );
      expect(await attempt(signIn, "bob", from("10.0.1.1"), "password")).toBe(WRONG);
      later(PERSON_REFILL_S * 1000);
      expect(await attempt(signIn, "ann", from("10.0.1.1"), "password")).toBe(WRONG);
    },
    HASHING_TEST_MS,
  );

  test(
    "a person's passkey is not held back by attempts made in their name",
    async () => {
      const { signIn } = gateway(["ann"]);
      for (let i = 0; i <= PERSON_BURST; i++) {
        await attempt(signIn, "ann", from(`10.0.0.${i}`), "password");
        await attempt(signIn, "ann", from(`10.0.1.${i}`));
      }
      expect(await attempt(signIn, "ann", from("10.0.2.1"), "password")).toBe(
        `limited ${PERSON_REFILL_S}s`,
      );
      // Ann has no passkey here: refused as wrong, as any name would be, not limited.
      expect(await attempt(signIn, "ann", from("10.0.2.1"))).toBe(WRONG);
    },
    HASHING_TEST_MS,
  );

  test(
    "a name that is no one's is limited as a person's is, on its own",
    async () => {
      const { signIn } = gateway(["ann"]);
      for (const name of ["ann", "nobody"]) {
        for (let i = 0; i < PERSON_BURST; i++)
          expect(await attempt(signIn, name, from(`10.0.0.${i}`), "password")).toBe(WRONG);
        expect(await attempt(signIn, name, from("10.0.9.9"), "password")).toBe(
          `limited ${PERSON_REFILL_S}s`,
        );
      }
      expect(await attempt(signIn, "someone-else", from("10.0.9.9"), "password")).toBe(WRONG);
    },
    HASHING_TEST_MS,
  );

  test(
    "a busy gateway says so alike for a person's name and no one's",
    async () => {
      const { signIn } = gateway(["ann"]);
      // Two passwords hashing at once: the gate is full while they run.
      const running = [
        attempt(signIn, "ann", from("10.0.0.1"), "password"),
        attempt(signIn, "ann", from("10.0.0.2"), "password"),
      ];
      const busy = await Promise.all([
        attempt(signIn, "ann", from("10.0.0.3"), "password"),
        attempt(signIn, "nobody", from("10.0.0.4"), "password"),
      ]);
      expect(await Promise.all(running)).toEqual([WRONG, WRONG]);
      expect(busy).toEqual(["busy", "busy"]);
    },
    HASHING_TEST_MS,
  );

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
