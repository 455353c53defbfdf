// @hawser/stomp — a pure STOMP 1.0/1.1/1.2 codec: bytes in, frames out; frames in, bytes out.
// No sockets, no timers. The gateway and the client library both stand on it.
export * from './frame';
export * from './errors';
export * from './parser';
export * from './encoder';
export * from './negotiate';
export * from './validate';
