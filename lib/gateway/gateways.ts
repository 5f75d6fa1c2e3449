/**
 * The zone's gateways as any device sees them in the state: which devices serve people,
 * and the address each one is reached at. This device comes first when it is one, then
 * the others by name; a gateway whose device published no address cannot be named.
 */
import { compareCodeUnits } from "../../protocol/text-order.ts";
import type { NodeContext } from "../node/node-context.ts";
import { standingOf } from "../sync/membership.ts";
import { readAppPorts } from "./app-ports.ts";
import { appByName, type GatewayConfig, gatewayBase, readGateway } from "./config.ts";

export interface ZoneGateway {
  readonly device: string;
  readonly self: boolean;
  readonly config: GatewayConfig;
  /** `http(s)://host[:port]` as people reach it. */
  readonly base: string;
}

export function zoneGateways(node: NodeContext): ZoneGateway[] {
  const membership = node.membership();
  const own = readGateway(node.db, node.deviceName);
  const ownHost = new URL(node.addresses[0] ?? "https://127.0.0.1").hostname;
  const result: ZoneGateway[] = own
    ? [{ device: node.deviceName, self: true, config: own, base: gatewayBase(own, ownHost) }]
    : [];
  for (const peer of node.peers()) {
    if (standingOf(membership, peer.id) !== "member") continue;
    const config = readGateway(node.db, peer.name);
    const address = peer.addresses[0];
    if (!config || !address) continue;
    result.push({
      device: peer.name,
      self: false,
      config,
      base: gatewayBase(config, new URL(address).hostname),
    });
  }
  return result;
}

/**
 * Where people reach an app, in the order of the gateways' names: by name under a gateway's
 * host, and at the port a gateway without one gave it (app-ports.ts). Until that gateway says which, by path there, which
 * leads to that port once it has one.
 */
export function appAddresses(node: NodeContext, app: string): string[] {
  // By the gateways' names, this device's among them: the same list on every device.
  const gateways = zoneGateways(node).sort((a, b) => compareCodeUnits(a.device, b.device));
  const addresses = gateways.map((gateway) => {
    if (gateway.config.host) return appByName(gateway.config, app);
    const port = readAppPorts(node.db, gateway.device).get(app);
    if (port === undefined) return `${gateway.base}/apps/${app}/`;
    const address = new URL(gateway.base);
    address.port = String(port);
    return `${address.origin}/`;
  });
  return [...new Set(addresses)];
}
