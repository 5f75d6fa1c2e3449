/**
 * A NodeContext over a test node's database (lib/state/test-db.ts), for tests of what reads
 * and writes through the running node: no home on disk, no certificate, no addresses.
 */
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { homePaths } from "../home.ts";
import { createLog, type Log } from "../log.ts";
import { type TestNode, testOwner } from "../state/test-db.ts";
import type { OpenZone } from "../zone/open.ts";
import { NodeContext } from "./node-context.ts";

export function testNodeContext(
  node: TestNode,
  name: string,
  options: {
    readonly log?: Log;
    readonly now?: () => number;
    /** A home on disk for its object store and apps (default: none). */
    readonly home?: string;
  } = {},
): NodeContext {
  return new NodeContext(
    {
      db: node.db,
      zone: { id: node.zone, name: "home" },
      device: { id: deviceIdFromPublicKey(node.key.publicKey), name },
      paths: options.home
        ? homePaths(options.home)
        : { home: "/nonexistent", ndnDir: "/nonexistent/ndn" },
      deviceKey: node.key,
      seal: node.seal,
    } as unknown as OpenZone,
    options.log ?? createLog({ level: "silent" }),
    options.now ?? (() => Date.now()),
    "",
    [],
  );
}

/** testNodeContext on a device that holds the test zone's owner key (the test owner's). */
export function ownerTestContext(
  node: TestNode,
  name: string,
  options: Parameters<typeof testNodeContext>[2] = {},
): NodeContext {
  return Object.assign(testNodeContext(node, name, options), { ownerKey: () => testOwner });
}
