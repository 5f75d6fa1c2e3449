import { describe, expect, test } from "bun:test";
import { BuckyError } from "../errors.ts";
import { explain, newAccountKey, orderCertificate } from "./acme.ts";

const NAME = "notes.home.example.com";
const said = (problem: unknown, step: Parameters<typeof explain>[2] = "challenge") => {
  const error = explain(problem, NAME, step);
  return { message: error.message, hint: error.hint };
};

describe("what an ACME failure says", () => {
  test("port 80 not reachable from the CA: forward it", () => {
    expect(
      said({ type: "urn:ietf:params:acme:error:connection", detail: "Timeout during connect" }),
    ).toEqual({
      message: `the CA could not reach this gateway on port 80 for ${NAME}: Timeout during connect`,
      hint: `Make port 80 reachable from the internet (forward it to this device), and check that ${NAME} points at it.`,
    });
  });

  test("a name that does not resolve: point it at the gateway", () => {
    expect(
      said({ type: "urn:ietf:params:acme:error:dns", detail: `NXDOMAIN looking up A for ${NAME}` }),
    ).toEqual({
      message: `${NAME} does not resolve in DNS: NXDOMAIN looking up A for ${NAME}`,
      hint: `Point ${NAME} (or a wildcard record for the zone's host) at this gateway's public address.`,
    });
  });

  test("a name that reaches another server: check where it points", () => {
    expect(
      said({ type: "urn:ietf:params:acme:error:unauthorized", detail: "Invalid response: 404" })
        .hint,
    ).toBe(
      `Check that ${NAME} points at this gateway and that port 80 reaches it (not another server).`,
    );
  });

  test("the CA's rate limit: nothing to do, it is tried again later", () => {
    expect(
      said(new Error("Error creating new order :: too many certificates already issued"), "order"),
    ).toEqual({
      message: `the CA's rate limit stops ${NAME} for now: Error creating new order :: too many certificates already issued`,
      hint: "Nothing to do: it is tried again later, less often.",
    });
  });

  test("a CA that needs an external account: give it", () => {
    expect(
      said(
        { type: "urn:ietf:params:acme:error:externalAccountRequired", detail: "EAB required" },
        "account",
      ),
    ).toEqual({
      message: "this CA needs an external account",
      hint: "Give the CA's key id and HMAC key: `bucky gateway enable --acme-eab-kid ID --acme-eab-key-file F`.",
    });
  });

  test("a CA's own words for it (pebble's) are understood too", () => {
    expect(
      said(
        new Error(
          "ACME server policy requires newAccount requests must include a value for the 'externalAccountBinding' field",
        ),
        "account",
      ).message,
    ).toBe("this CA needs an external account");
  });

  test("a directory that cannot be reached: check the connection", () => {
    expect(
      said(
        Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
        "account",
      ).message,
    ).toBe(
      "the ACME directory cannot be reached or refused the account: connect ECONNREFUSED 127.0.0.1:1",
    );
  });

  test("anything else still says what to do next", () => {
    expect(
      said({ type: "urn:ietf:params:acme:error:serverInternal", detail: "oops" }, "finalize"),
    ).toEqual({
      message: `no certificate for ${NAME} (finalize): oops`,
      hint: "Nothing to do now: it is tried again later by itself. If it keeps failing, check the gateway's internet connection and --acme-directory.",
    });
  });
});

describe("a CA that takes the connection and never answers", () => {
  test("fails the order in time, saying so, rather than holding it for ever", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const account = {
        directory: `http://127.0.0.1:${silent.port}/dir`,
        key: await newAccountKey(),
      };
      const ordering = orderCertificate(
        account,
        NAME,
        { publish: () => {}, withdraw: () => {} },
        300,
      );
      const failed = await ordering.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failed).toBeInstanceOf(BuckyError);
      expect((failed as BuckyError).message).toBe(
        `the CA did not answer (account) for ${NAME}: no answer came in time, or the connection failed`,
      );
    } finally {
      silent.stop(true);
    }
  });
});
