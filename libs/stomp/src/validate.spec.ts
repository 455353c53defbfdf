// Per-command header rules per version: a table of (frame, version, error or pass).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { validateClientFrame, validateServerFrame } from './validate';
import { frame, type StompVersion } from './frame';
import type { StompErrorCode } from './errors';

type Case = [command: string, headers: Record<string, string>, versions: StompVersion[], code?: StompErrorCode, message?: string];
const ALL: StompVersion[] = ['1.0', '1.1', '1.2'];
const V11: StompVersion[] = ['1.1', '1.2'];

const clientCases: Case[] = [
  // passes
  ['CONNECT', {}, ALL],
  ['CONNECT', { 'accept-version': '1.0,1.1,1.2', host: 'h', 'heart-beat': '0,0', login: 'a', passcode: 'b' }, ALL],
  ['STOMP', { 'accept-version': '1.2', host: 'h' }, ALL],
  ['SEND', { destination: '/queue/a' }, ALL],
  ['SUBSCRIBE', { destination: '/queue/a' }, ['1.0']],
  ['SUBSCRIBE', { destination: '/queue/a', id: '0', ack: 'client-individual' }, V11],
  // ActiveMQ's extension: client-individual on STOMP 1.0 connections.
  ['SUBSCRIBE', { destination: '/queue/a', ack: 'client-individual' }, ['1.0']],
  ['SUBSCRIBE', { destination: '/queue/a', id: '0', ack: 'auto' }, ALL],
  ['UNSUBSCRIBE', { destination: '/queue/a' }, ['1.0']],
  ['UNSUBSCRIBE', { id: '0' }, ALL],
  ['ACK', { 'message-id': 'm1' }, ['1.0']],
  ['ACK', { 'message-id': 'm1', subscription: '0' }, ['1.1']],
  ['ACK', { id: 'a1' }, ['1.2']],
  ['NACK', { 'message-id': 'm1', subscription: '0' }, ['1.1']],
  ['NACK', { id: 'a1' }, ['1.2']],
  ['BEGIN', { transaction: 'tx1' }, ALL],
  ['COMMIT', { transaction: 'tx1' }, ALL],
  ['ABORT', { transaction: 'tx1' }, ALL],
  ['DISCONNECT', {}, ALL],
  ['DISCONNECT', { receipt: '77' }, ALL],
  // failures
  ['CONNECT', { 'accept-version': '1.x' }, ALL, 'BAD_HEADER_VALUE',
    'CONNECT frame has accept-version header "1.x", which is not a comma-separated list of versions such as "1.0,1.1,1.2"'],
  ['STOMP', { 'heart-beat': 'fast' }, ALL, 'BAD_HEADER_VALUE',
    'STOMP frame has heart-beat header "fast", which is not "<cx>,<cy>" (two non-negative integers in milliseconds, e.g. "10000,10000")'],
  ['SEND', {}, ALL, 'MISSING_HEADER', 'SEND frame has no destination header'],
  ['SEND', { destination: '' }, ALL, 'BAD_HEADER_VALUE', 'SEND frame has an empty destination header'],
  ['SUBSCRIBE', { id: '0' }, ALL, 'MISSING_HEADER', 'SUBSCRIBE frame has no destination header'],
  ['SUBSCRIBE', { destination: '/q' }, ['1.1'], 'MISSING_HEADER', 'SUBSCRIBE frame has no id header (required in STOMP 1.1)'],
  ['SUBSCRIBE', { destination: '/q' }, ['1.2'], 'MISSING_HEADER', 'SUBSCRIBE frame has no id header (required in STOMP 1.2)'],
  ['SUBSCRIBE', { destination: '/q', ack: 'individual' }, ['1.0'], 'BAD_HEADER_VALUE',
    'SUBSCRIBE frame has ack header "individual"; STOMP 1.0 allows auto, client, client-individual'],
  ['SUBSCRIBE', { destination: '/q', id: '1', ack: 'sometimes' }, ['1.2'], 'BAD_HEADER_VALUE',
    'SUBSCRIBE frame has ack header "sometimes"; STOMP 1.2 allows auto, client, client-individual'],
  ['UNSUBSCRIBE', {}, ['1.0'], 'MISSING_HEADER', 'UNSUBSCRIBE frame has neither an id nor a destination header (STOMP 1.0 needs one)'],
  ['UNSUBSCRIBE', { destination: '/q' }, ['1.1'], 'MISSING_HEADER', 'UNSUBSCRIBE frame has no id header (required in STOMP 1.1)'],
  ['ACK', {}, ['1.0'], 'MISSING_HEADER', 'ACK frame has no message-id header'],
  ['ACK', { 'message-id': 'm1' }, ['1.1'], 'MISSING_HEADER', 'ACK frame has no subscription header (required in STOMP 1.1)'],
  ['ACK', { 'message-id': 'm1', subscription: '0' }, ['1.2'], 'MISSING_HEADER',
    'ACK frame has no id header (STOMP 1.2 acknowledges with the id from the MESSAGE\'s ack header)'],
  ['NACK', { 'message-id': 'm1' }, ['1.0'], 'UNKNOWN_COMMAND', 'NACK is not a STOMP 1.0 command (it exists from STOMP 1.1 on)'],
  ['NACK', { subscription: '0' }, ['1.1'], 'MISSING_HEADER', 'NACK frame has no message-id header'],
  ['NACK', {}, ['1.2'], 'MISSING_HEADER', 'NACK frame has no id header (STOMP 1.2 acknowledges with the id from the MESSAGE\'s ack header)'],
  ['BEGIN', {}, ALL, 'MISSING_HEADER', 'BEGIN frame has no transaction header'],
  ['COMMIT', {}, ALL, 'MISSING_HEADER', 'COMMIT frame has no transaction header'],
  ['ABORT', { transaction: '' }, ALL, 'BAD_HEADER_VALUE', 'ABORT frame has an empty transaction header'],
  ['MESSAGE', { destination: '/q' }, ALL, 'UNKNOWN_COMMAND', 'unknown client command "MESSAGE"'],
];

const serverCases: Case[] = [
  ['CONNECTED', {}, ['1.0']],
  ['CONNECTED', { version: '1.2', 'heart-beat': '0,0', server: 'hawser/0.1' }, ALL],
  ['CONNECTED', {}, V11, 'MISSING_HEADER'],
  ['CONNECTED', { version: 'one' }, ALL, 'BAD_HEADER_VALUE', 'CONNECTED frame has version header "one", which is not a version such as "1.2"'],
  ['CONNECTED', { version: '1.1', 'heart-beat': '1' }, ALL, 'BAD_HEADER_VALUE'],
  ['MESSAGE', { destination: '/q', 'message-id': '1' }, ['1.0']],
  ['MESSAGE', { destination: '/q', 'message-id': '1', subscription: '0', ack: 'a1' }, ALL],
  ['MESSAGE', { 'message-id': '1', subscription: '0' }, ALL, 'MISSING_HEADER', 'MESSAGE frame has no destination header'],
  ['MESSAGE', { destination: '/q', subscription: '0' }, ALL, 'MISSING_HEADER', 'MESSAGE frame has no message-id header'],
  ['MESSAGE', { destination: '/q', 'message-id': '1' }, ['1.2'], 'MISSING_HEADER', 'MESSAGE frame has no subscription header (required in STOMP 1.2)'],
  ['RECEIPT', { 'receipt-id': '77' }, ALL],
  ['RECEIPT', {}, ALL, 'MISSING_HEADER', 'RECEIPT frame has no receipt-id header'],
  ['ERROR', {}, ALL],
  ['ERROR', { message: 'bad' }, ALL],
  ['SEND', { destination: '/q' }, ALL, 'UNKNOWN_COMMAND', 'unknown server command "SEND"'],
];

function table(name: string, validate: typeof validateClientFrame, cases: Case[]): void {
  describe(name, () => {
    for (const [command, headers, versions, code, message] of cases) {
      for (const v of versions) {
        const label = `${v} ${command} ${JSON.stringify(headers)} -> ${code ?? 'ok'}`;
        test(label, () => {
          const fr = frame(command, headers);
          if (code === undefined) validate(fr, v);
          else assert.throws(() => validate(fr, v), message === undefined ? { code } : { code, message });
        });
      }
    }
  });
}

table('validateClientFrame', validateClientFrame, clientCases);
table('validateServerFrame', validateServerFrame, serverCases);

test('the first of repeated headers is the one checked (STOMP 1.2)', () => {
  const fr = { command: 'SEND', headers: [['destination', ''], ['destination', '/q']] as Array<[string, string]>, body: Buffer.alloc(0) };
  assert.throws(() => validateClientFrame(fr, '1.2'), { code: 'BAD_HEADER_VALUE' });
});
