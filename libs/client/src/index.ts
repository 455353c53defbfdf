// @hawser/client — a typed STOMP 1.0/1.1/1.2 client for Node over TCP, TLS and WebSocket.
//
//   const c = await connect('stomp://127.0.0.1:61613', { login, passcode });
//   await c.send('/queue/a', 'hello', { persistent: true });      // resolves on RECEIPT
//   const sub = await c.subscribe('/queue/a', { ack: 'client-individual' });
//   const m = await sub.next(5000); await m.ack();
//   await c.disconnect();
//
//   const f = await connectFailover('failover:(stomp://h1:61613,stomp://h2:61613)?randomize=false');
//   f.on('reconnected', (info) => ...);   // same API; reconnects, re-subscribes and resends by itself
export * from './errors';
export * from './uri';
export { WS_SUBPROTOCOLS, type Transport } from './transport';
export * from './client';
export * from './subscription';
export * from './transaction';
export * from './reconnect';
export * from './failover-client';
