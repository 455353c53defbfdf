// Plays one ConnectionScript over a real TCP connection: writes each batch as its writes
// (Nagle off, a turn of the event loop between writes so they leave as separate segments),
// reads what the gateway answers with @hawser/stomp's parser (ERRORs counted by code, MESSAGE
// ack ids fed back to the generator), ends the way the script says, and notes a server that
// does not close after our DISCONNECT or FIN.
import { connect as netConnect } from 'node:net';
import { StompParser, getHeader } from '@hawser/stomp';
import type { ConnectionScript } from './script';
import { drained, endConnection } from './socket-end';
import { bump, errorCode, type FuzzCounters } from './stats';

export interface Target { host: string; port: number }

const turn = () => new Promise<void>((r) => setImmediate(r));

export interface DriveOptions {
  /** How long to wait for the server to close after our DISCONNECT or FIN (ms). */
  closeWaitMs: number;
  /** How long one write may wait for 'drain' before the connection is abandoned (ms). */
  drainWaitMs: number;
}

/** Runs the script to its end (or until the server closes); never throws. */
export async function drive(target: Target, script: ConnectionScript, c: FuzzCounters, o: DriveOptions): Promise<void> {
  const socket = netConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  let closed = false;
  let wrote = false;
  let answered = false;
  let closeResolve: () => void = () => undefined;
  const closedP = new Promise<void>((r) => { closeResolve = r; });

  const parser = new StompParser({ side: 'client', maxFrameSize: 64 * 1024 * 1024, maxHeaders: 100_000, maxHeaderLength: 16 * 1024 * 1024 });
  let parserFailed = false;
  socket.on('data', (chunk: Buffer) => {
    answered = true;
    if (parserFailed) return;
    try {
      for (const ev of parser.push(chunk)) {
        if (ev.type !== 'frame') continue;
        const f = ev.frame;
        switch (f.command) {
          case 'CONNECTED': c.connected++; break;
          case 'RECEIPT': c.receipts++; break;
          case 'MESSAGE': {
            c.messages++;
            script.generator.delivered({ ack: getHeader(f, 'ack'), messageId: getHeader(f, 'message-id') ?? '', subscription: getHeader(f, 'subscription') ?? '' });
            break;
          }
          case 'ERROR': bump(c.errors, errorCode(getHeader(f, 'message'), f.body.toString('utf8', 0, 200))); break;
        }
      }
    } catch (e) {
      parserFailed = true;
      c.badServerOutput++;
      if (c.badServerSamples.length < 5) c.badServerSamples.push(`${(e as Error).message}; bytes: ${JSON.stringify(chunk.toString('latin1', 0, 300))}`);
    }
  });
  socket.on('error', (e: NodeJS.ErrnoException) => {
    if (!wrote && !answered && (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET')) c.connectFailures++;
  });
  socket.on('close', () => { closed = true; closeResolve(); });
  await new Promise<void>((r) => { socket.once('connect', () => r()); socket.once('close', () => r()); });
  if (closed) return;
  c.connections++;

  try {
    for (let batch = script.next(); batch && !closed; batch = script.next()) {
      for (let i = 0; i < batch.writes.length && !closed; i++) {
        const w = batch.writes[i]!;
        wrote = true;
        c.bytes += w.length;
        if (!socket.write(w) && !(await drained(socket, o.drainWaitMs))) { socket.destroy(); return; }
        if (batch.writes.length > 1) await turn();
      }
      if (closed) break;
      c.frames += batch.frames; c.valid += batch.valid; c.mutated += batch.mutated; c.garbage += batch.garbage;
      // Let the server's answers (MESSAGE ack ids, RECEIPTs) come in now and then.
      if (Math.random() < 0.2) await turn();
    }
  } catch {
    /* EPIPE and friends: the server closed on us, which is its right */
  }
  if (closed) return;

  // 'disconnect': the gateway closes after the DISCONNECT's receipt; else our FIN (endConnection).
  await endConnection(socket, script.ending, closedP, () => closed, o.closeWaitMs, c);
}
