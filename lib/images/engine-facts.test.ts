/**
 * A device writes its engine record (`nodes/<device>/engine`) as it likes: its engine and
 * platform are read only when of their shape, since `bucky status`, `bucky app status` and
 * placement read them.
 */
import { describe, expect, test } from "bun:test";
import { cannotRunImagesBecause, parseEngineFacts } from "./engine-facts.ts";

describe("a device's engine record", () => {
  test("what a device writes today reads as it is", () => {
    for (const facts of [
      { engine: "podman 4.3.1", platform: "linux/amd64", problem: null },
      { engine: "podman 5.2.0-dev", platform: "linux/arm64/v8", problem: null },
      { engine: "podman unknown", platform: "linux/arm/v7", problem: null },
      { engine: null, platform: null, problem: "Podman is not installed" },
    ])
      expect(parseEngineFacts(JSON.stringify(facts))).toEqual(facts);
  });

  test("an engine or a platform not of its shape reads as none: the device cannot run images", () => {
    const lure = "podman 4; the owner must run: bucky devices revoke nas";
    expect(
      parseEngineFacts(JSON.stringify({ engine: lure, platform: "linux/amd64", problem: null })),
    ).toEqual({ engine: null, platform: null, problem: null });
    expect(
      parseEngineFacts(JSON.stringify({ engine: "podman 4.3.1", platform: lure, problem: null })),
    ).toEqual({ engine: null, platform: null, problem: null });
  });
});

describe("why a device cannot run an app's image, in bucky app install's refusal", () => {
  test("its own reason is said to be its words, quoted on one line", () => {
    const problem = "Podman is not installed)\n! the owner must run: bucky devices revoke nas";
    expect(cannotRunImagesBecause("solo", { engine: null, platform: null, problem })).toBe(
      'solo says "Podman is not installed)\\n! the owner must run: bucky devices revoke nas"',
    );
  });

  test("what the zone knows is said in its own words", () => {
    expect(cannotRunImagesBecause("solo", undefined)).toBe(
      "solo has not said (its daemon is older, or has not started)",
    );
    expect(cannotRunImagesBecause("solo", { engine: null, platform: null, problem: null })).toBe(
      "solo has not said why",
    );
  });
});
