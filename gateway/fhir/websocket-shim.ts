// @medplum/core 5.x reads globalThis.WebSocket when it is imported; Node 20 exposes WebSocket only
// behind --experimental-websocket. The gateway never uses Medplum's realtime subscriptions, so on
// Node 20 a constructor that fails loudly is honest; Node 22+ keeps its native WebSocket.
if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'undefined') {
  (globalThis as { WebSocket?: unknown }).WebSocket = class WebSocketUnavailable {
    constructor() {
      throw new Error('WebSocket is not available in this Node.js runtime (start Node with --experimental-websocket)');
    }
  };
}
export {};
