/**
 * The peer server's WebSockets: bridges to apps (a gateway's WebSocket through the
 * ingress) and relay tunnels and streams, each handled by its own module.
 */
import type { ServerWebSocket, WebSocketHandler } from "bun";
import { type BridgeData, websocketBridge } from "../gateway/forward.ts";
import type { RelayHub, RelaySocketData } from "../relay/hub.ts";

export type PeerSocketData = BridgeData | RelaySocketData;

export function peerSockets(relay: () => RelayHub): WebSocketHandler<PeerSocketData> {
  const bridge = websocketBridge as Required<WebSocketHandler<BridgeData>>;
  const isBridge = (ws: ServerWebSocket<PeerSocketData>): ws is ServerWebSocket<BridgeData> =>
    ws.data.kind === "bridge";
  return {
    open: (ws) =>
      isBridge(ws)
        ? bridge.open(ws)
        : relay().websocket.open(ws as ServerWebSocket<RelaySocketData>),
    message: (ws, message) =>
      isBridge(ws)
        ? bridge.message(ws, message)
        : relay().websocket.message(ws as ServerWebSocket<RelaySocketData>, message),
    pong: (ws) => {
      if (!isBridge(ws)) relay().websocket.pong(ws as ServerWebSocket<RelaySocketData>);
    },
    drain: (ws) =>
      isBridge(ws)
        ? bridge.drain(ws)
        : relay().websocket.drain(ws as ServerWebSocket<RelaySocketData>),
    close: (ws, code, reason) =>
      isBridge(ws)
        ? bridge.close(ws, code, reason)
        : relay().websocket.close(ws as ServerWebSocket<RelaySocketData>),
  };
}
