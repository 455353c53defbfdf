// `hawser send` and `hawser receive`: STOMP through a gateway (or any STOMP broker).
import { readFileSync } from 'node:fs';
import type { AckMode, Message, Subscription } from '@hawser/client';
import { parseKeyValue, type ParsedArgs } from './args';
import { OperationError, toCliError, UsageError } from './errors';
import { bodyFields, bodyLine, plural } from './format';
import { connectWith, readAll, STOMP_OPTIONS, type BrokerClient, type Command } from './io';

// ---- send ------------------------------------------------------------------------------

export const send: Command = {
  spec: {
    name: 'send',
    summary: 'Send messages to a destination; every message waits for the broker\'s RECEIPT.',
    positionals: [
      { name: 'destination', required: true, help: '/queue/<name> or /topic/<name>' },
      { name: 'body', help: 'the message body; - reads it from stdin (default: empty, or --file)' },
    ],
    options: [
      ...STOMP_OPTIONS,
      { name: 'count', type: 'int', default: 1, min: 1, arg: 'N', help: 'send the body N times' },
      { name: 'persistent', type: 'bool', help: 'persistent:true (stored on disk, survives a restart)' },
      { name: 'header', type: 'list', arg: 'k=v', help: 'an extra STOMP header' },
      { name: 'file', type: 'string', arg: 'F', help: 'read the body from file F' },
      { name: 'content-type', type: 'string', arg: 'type', help: 'content-type header, e.g. text/plain' },
      { name: 'window', type: 'int', default: 16, min: 1, arg: 'W', help: 'at most W messages waiting for their RECEIPT' },
      { name: 'json', type: 'bool', help: 'print {"destination","sent"} as JSON' },
    ],
    details: 'Exit status: 0 when every message was receipted, 1 if one was refused or timed out\n(the count sent so far is printed), 2 usage error, 3 broker unreachable.',
    examples: [
      'hawser send /queue/orders \'{"id":1}\' --persistent --header priority=5',
      'echo hello | hawser send /queue/a - --count 100',
    ],
  },
  async run(args, io) {
    const [destination, bodyArg] = args.positionals as [string, string | undefined];
    const file = args.str('file');
    if (file !== undefined && bodyArg !== undefined) throw new UsageError('give the body as an argument or with --file, not both', 'send');
    let body: Buffer;
    if (file !== undefined) {
      try { body = readFileSync(file); } catch (err) { throw new UsageError(`--file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'send'); }
    } else if (bodyArg === '-') body = await readAll(io.stdin);
    else body = Buffer.from(bodyArg ?? '', 'utf8');
    const headers = parseSendHeaders(args);
    const count = args.int('count')!;
    const contentType = args.str('content-type');

    const client = await connectWith(args);
    let sent = 0;
    let failure: unknown;
    try {
      const w = client.pipeline(args.int('window')!);
      const receipts: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        receipts.push(w.send(destination, body, {
          headers,
          ...(args.bool('persistent') ? { persistent: true } : {}),
          ...(contentType ? { contentType } : {}),
        }).then(() => { sent++; }));
      }
      for (const r of receipts) {
        try { await r; } catch (err) { failure ??= err; }
      }
    } finally {
      await client.disconnect({ timeoutMs: 2000 });
    }
    if (args.bool('json')) io.out(`${JSON.stringify({ destination, sent })}\n`);
    else io.out(`sent ${plural(sent, 'message')} to ${destination}\n`);
    if (failure !== undefined) {
      throw new OperationError(`${sent} of ${count} sent: ${toCliError(failure).message}`, { cause: failure });
    }
    return 0;
  },
};

// ---- receive ---------------------------------------------------------------------------

export const receive: Command = {
  spec: {
    name: 'receive',
    summary: 'Receive messages from a destination and print them (text: one body per line; --json: one object per line).',
    positionals: [{ name: 'destination', required: true, help: '/queue/<name> or /topic/<name>' }],
    options: [
      ...STOMP_OPTIONS,
      { name: 'count', type: 'int', default: 1, min: 0, arg: 'N', help: 'stop after N messages; 0 = until --timeout passes with no message' },
      { name: 'timeout', type: 'int', default: 5000, min: 1, arg: 'ms', help: 'how long to wait for each message' },
      { name: 'ack', type: 'string', default: 'client-individual', values: ['auto', 'client', 'client-individual'], help: 'ack mode; client modes ack each message after printing it' },
      { name: 'prefetch', type: 'int', min: 1, arg: 'N', help: 'unacked messages the broker may push (default: --count, or 100)' },
      { name: 'selector', type: 'string', arg: 'S', help: 'JMS selector, e.g. "priority > 4 AND region = \'eu\'"' },
      { name: 'durable', type: 'string', arg: 'NAME', help: 'durable topic subscription name (needs --client-id)' },
      { name: 'client-id', type: 'string', arg: 'ID', help: 'client id owning the durable subscription' },
      { name: 'json', type: 'bool', help: 'print each message as JSON: {destination, messageId, redelivered, headers, body, bodyEncoding}' },
    ],
    details: 'With --ack auto the broker counts a message as consumed when it sends it, so messages it pushed\n'
      + 'beyond --count are consumed too; the client modes (default client-individual) give exactly --count.\n'
      + 'Exit status: 0 when --count messages came (or --count 0), 1 on timeout before --count,\n'
      + '2 usage error, 3 broker unreachable.',
    examples: [
      'hawser receive /queue/orders --count 10 --json',
      'hawser receive /topic/prices --durable prices-eu --client-id eu-1 --selector "region = \'eu\'"',
    ],
  },
  async run(args, io) {
    const [destination] = args.positionals as [string];
    const durable = args.str('durable');
    const clientId = args.str('client-id');
    if (durable !== undefined && clientId === undefined) throw new UsageError('--durable needs --client-id (the durable subscription belongs to a client id)', 'receive');
    const count = args.int('count')!;
    const timeout = args.int('timeout')!;
    const ack = args.str('ack') as AckMode;
    const prefetch = args.int('prefetch') ?? (count > 0 ? Math.min(count, 1000) : 100);
    const selector = args.str('selector');

    const client = await connectWith(args, clientId !== undefined ? { clientId } : {});
    let received = 0;
    let last: Message | undefined;
    let timedOut = false;
    try {
      const sub = await client.subscribe(destination, {
        ack,
        prefetch,
        ...(selector !== undefined ? { selector } : {}),
        ...(durable !== undefined ? { durableName: durable } : {}),
      });
      while (count === 0 || received < count) {
        const m = await sub.tryNext(timeout);
        if (!m) {
          if (sub.closed) throw new OperationError(`the subscription to ${destination} ended`);
          timedOut = true;
          break;
        }
        io.out(args.bool('json') ? `${JSON.stringify(messageJson(m))}\n` : `${bodyLine(m.body)}\n`);
        received++;
        last = m;
        // client-individual: ack this one; client: one cumulative ACK at the end.
        if (ack === 'client-individual') await m.ack({ receipt: false });
      }
      if (ack === 'client' && last) await last.ack({ receipt: false });
      await unsubscribeQuietly(sub, client);
    } finally {
      // DISCONNECT waits for its receipt: every ACK written before it has been processed.
      await client.disconnect({ timeoutMs: 2000 });
    }
    if (timedOut && count > 0) {
      throw new OperationError(`received ${received} of ${count} messages: no message on ${destination} within ${timeout} ms`);
    }
    return 0;
  },
};

async function unsubscribeQuietly(sub: Subscription, client: BrokerClient): Promise<void> {
  // Durable subscriptions stay (UNSUBSCRIBE without the name keeps them, as in ActiveMQ).
  if (!client.connected) return;
  try { await sub.unsubscribe({ receipt: false }); } catch { /* disconnect follows */ }
}

/** The JSON printed per message by receive --json (and browse --json, from other fields). */
export function messageJson(m: Message): Record<string, unknown> {
  return {
    destination: m.destination,
    messageId: m.messageId,
    redelivered: m.redelivered,
    headers: { ...m.headers },
    ...bodyFields(m.body),
  };
}

/** --header k=v options as a header map (later ones win). */
export function parseSendHeaders(args: ParsedArgs): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of args.list('header')) { const [k, v] = parseKeyValue('header', h, 'send'); headers[k] = v; }
  return headers;
}
