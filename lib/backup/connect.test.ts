import { describe, expect, test } from "bun:test";
import type { PeerClient } from "../node/peer-client.ts";
import { openBackend } from "./connect.ts";
import type { ResolvedTarget } from "./zone-targets.ts";

const usb: ResolvedTarget = {
  name: "usb",
  url: "/mnt/usb",
  via: "laptop",
  route: { kind: "through", via: "laptop" },
};
const client = {} as PeerClient;

describe("a target reached through another device that this device cannot call", () => {
  test("its via revoked: said so, and how to go on, not to wait for it", async () => {
    const opened = openBackend(usb, { client, peers: [], outcast: new Set(["laptop"]) });
    await expect(opened).rejects.toMatchObject({
      code: "E_UNAVAILABLE",
      message: expect.stringContaining("laptop, which is no member of the zone any more"),
      hint: "Remove the target (`bucky backup target rm usb`) and add it again on a device that reaches it.",
    });
  });

  test("its via a member not heard from yet: backups go on once it is back", async () => {
    const opened = openBackend(usb, { client, peers: [], outcast: new Set() });
    await expect(opened).rejects.toMatchObject({
      code: "E_UNAVAILABLE",
      hint: expect.stringContaining("go on once laptop is back"),
    });
  });
});
