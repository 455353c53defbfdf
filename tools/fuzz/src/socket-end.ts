// What the STOMP and MQTT drivers do alike with their TCP socket: wait for room to write, and
// end a connection the way its script says (reset, or FIN and wait, counting a server that kept
// it open).
import type { Socket } from 'node:net';

/** Resolves true once the socket can take more, false if it closed or `ms` passed first. */
export function drained(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => { clearTimeout(t); socket.off('drain', onDrain); socket.off('close', onClose); resolve(ok); };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const t = setTimeout(() => done(false), ms);
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

/**
 * Ends a connection still open: 'reset' resets it; 'disconnect' (the script's last frame asked
 * the server to close) first waits up to 2 s for the server to close; otherwise — or if it did
 * not, e.g. our bytes left it inside a frame whose length it still waits for — our FIN, and a
 * server that does not close within `closeWaitMs` after it is counted (`notClosed`).
 */
export async function endConnection(socket: Socket, ending: string, closedP: Promise<void>, isClosed: () => boolean,
  closeWaitMs: number, c: { notClosed: number }): Promise<void> {
  if (ending === 'reset') {
    socket.resetAndDestroy();
    return;
  }
  const waitClose = (ms: number) => new Promise<void>((r) => { const t = setTimeout(r, ms); void closedP.then(() => { clearTimeout(t); r(); }); });
  if (ending === 'disconnect') await waitClose(Math.min(2000, closeWaitMs));
  if (!isClosed()) {
    socket.end();
    await waitClose(closeWaitMs);
  }
  if (!isClosed()) {
    c.notClosed++;
    socket.destroy();
  }
}
