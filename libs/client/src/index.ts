// @hawser/client — a typed STOMP 1.0/1.1/1.2 client for Node over TCP, TLS and WebSocket.
//
//   const c = await connect('stomp://127.0.0.1:61613', { login, passcode });
//   await c.send('/queue/a', 'hello', { persistent: true });      // resolves on RECEIPT
//   const sub = await c.subscribe('/queue/a', { ack: 'client-individual' });
//   const m = await sub.next(5000); await m.ack();
//   await c.disconnect();
export * from './errors';
export * from './uri';
export { WS_SUBPROTOCOLS, type Transport } from './transport';
export * from './client';
export * from './subscription';
export * from './transaction';
