/**
 * Which approval of a gateway counts: the owner's, for that device's key, the latest one,
 * while the device is a member; wherever in the state it was written.
 */
import { describe, expect, test } from "bun:test";
import { signRevocation } from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { signGatewayApproval } from "../../protocol/gateway-approval.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, seed, testDeviceDocument, testOwner } from "../state/test-db.ts";
import { loadMembership } from "../sync/membership.ts";
import { approvalKey, proposedApproval, readApproval } from "./approval.ts";

const node = openTestNode(80);
const self = { zone: node.zone, name: "d80", key: node.key, seal: node.seal };
const laptopKey = signingKeyFromSeed(seed(81));
const laptop = deviceIdFromPublicKey(laptopKey.publicKey);
let at = 1000;
const write = (key: string, value: string, author = self) =>
  appendLocalChangeset(node.db, author, [{ key, value }], at++);
const asLaptop = { ...self, name: "laptop", key: laptopKey };
const approve = (
  hosts: string[],
  issuedAtMs: number,
  options: { device?: typeof laptop; owner?: typeof testOwner } = {},
) =>
  JSON.stringify(
    signGatewayApproval(
      {
        zone: node.zone,
        device: options.device ?? laptop,
        name: "laptop" as DeviceName,
        hosts,
        addresses: [],
        issuedAtMs,
      },
      options.owner ?? testOwner,
    ).jws,
  );
const read = () =>
  readApproval(node.db, node.zone, loadMembership(node.db, node.zone), "laptop")?.hosts;

describe("a gateway's approval", () => {
  test("is the owner's latest for the device's key, while it is a member", () => {
    write("devices/d80/doc", testDeviceDocument(node.key, "d80"));
    // Not a member yet: nothing counts.
    write(approvalKey("d80", "laptop"), approve(["home.lan"], 10));
    expect(read()).toBeUndefined();
    write("devices/laptop/doc", testDeviceDocument(laptopKey, "laptop"));
    expect(read()).toEqual(["home.lan"]);
    // A later one, kept by another device holding the owner key, counts; an older one
    // written again (a replay by a member) changes nothing.
    write(approvalKey("d80", "laptop"), approve(["office.lan"], 20));
    write(approvalKey("laptop", "laptop"), approve(["home.lan"], 10), asLaptop);
    expect(read()).toEqual(["office.lan"]);
    // One for another key of the same name (a device made again): nothing.
    const otherKey = deviceIdFromPublicKey(signingKeyFromSeed(seed(82)).publicKey);
    write(
      approvalKey("laptop", "laptop"),
      approve(["router.lan"], 30, { device: otherKey }),
      asLaptop,
    );
    expect(read()).toEqual(["office.lan"]);
    // Revoked: nothing counts any more.
    const revocation = signRevocation(
      { name: "laptop" as DeviceName, id: laptop, issuedAt: 2, lastSeq: 0 },
      testOwner,
    );
    write("devices/laptop/revoked", JSON.stringify(revocation.jws));
    expect(read()).toBeUndefined();
  });
});

describe("what approving a gateway would approve", () => {
  test("is what the zone state says it serves, and nothing is approved by asking", () => {
    const other = openTestNode(83);
    const author = { zone: other.zone, name: "d83", key: other.key, seal: other.seal };
    const laptopOf = { ...author, name: "laptop", key: laptopKey };
    appendLocalChangeset(
      other.db,
      author,
      [
        { key: "devices/d83/doc", value: testDeviceDocument(other.key, "d83") },
        { key: "devices/laptop/doc", value: testDeviceDocument(laptopKey, "laptop") },
      ],
      1000,
    );
    appendLocalChangeset(
      other.db,
      laptopOf,
      [
        {
          key: "nodes/laptop/gateway",
          value: JSON.stringify({
            listen: "0.0.0.0:443",
            host: "Router.lan",
            https: true,
            tls: "zone",
          }),
        },
        {
          key: "nodes/laptop/zone-ca/request",
          value: JSON.stringify({ addresses: ["192.168.1.1", 7] }),
        },
      ],
      1001,
    );
    const zone = { db: other.db, membership: () => loadMembership(other.db, other.zone) };
    expect(proposedApproval(zone, "laptop")).toEqual({
      device: "laptop",
      hosts: ["router.lan"],
      addresses: ["192.168.1.1"],
    });
    // What is named is taken as named; the rest is what it asks for.
    expect(proposedApproval(zone, "laptop", { hosts: ["home.lan"] })).toEqual({
      device: "laptop",
      hosts: ["home.lan"],
      addresses: ["192.168.1.1"],
    });
    expect(proposedApproval(zone, "laptop", { hosts: [], addresses: ["192.168.1.20"] })).toEqual({
      device: "laptop",
      hosts: [],
      addresses: ["192.168.1.20"],
    });
    expect(readApproval(other.db, other.zone, zone.membership(), "laptop")).toBeUndefined();
    expect(() => proposedApproval(zone, "nobody")).toThrow("nobody is not a device of this zone");
  });
});
