// Codec fixtures tested three ways (aedes/mqtt-packet style): parse the bytes, encode the
// frame, round-trip. Plus the spec's example frames, every split position, heart-beats,
// binary bodies and escaping per version.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StompParser, type ParseEvent } from './parser';
import { encodeFrame, HEARTBEAT } from './encoder';
import type { StompFrame, StompVersion } from './frame';
import { StompError } from './errors';

interface Fixture {
  name: string;
  version: StompVersion;
  side: 'server' | 'client'; // which side parses these bytes
  bytes: Buffer;
  frame: StompFrame;
  parseOnly?: boolean;       // bytes are valid input but not what the encoder writes
}

const b = (s: string | number[]): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s));
const f = (command: string, headers: Array<[string, string]>, body: string | Buffer = ''): StompFrame =>
  ({ command, headers, body: typeof body === 'string' ? b(body) : body });

const fixtures: Fixture[] = [
  // --- The examples of the STOMP 1.2 specification ---
  { name: 'spec: CONNECT', version: '1.2', side: 'server',
    bytes: b('CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0'),
    frame: f('CONNECT', [['accept-version', '1.2'], ['host', 'stomp.github.org']]) },
  { name: 'spec: CONNECTED', version: '1.2', side: 'client',
    bytes: b('CONNECTED\nversion:1.2\n\n\0'), frame: f('CONNECTED', [['version', '1.2']]) },
  { name: 'spec: SEND (body runs to the NUL, no content-length)', version: '1.2', side: 'server', parseOnly: true,
    bytes: b('SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\n\0'),
    frame: f('SEND', [['destination', '/queue/a'], ['content-type', 'text/plain']], 'hello queue a\n') },
  { name: 'spec: SEND with content-length', version: '1.2', side: 'server',
    bytes: b('SEND\ndestination:/queue/a\ncontent-type:text/plain\ncontent-length:13\n\nhello queue a\0'),
    frame: f('SEND', [['destination', '/queue/a'], ['content-type', 'text/plain'], ['content-length', '13']], 'hello queue a') },
  { name: 'spec: SEND in a transaction', version: '1.2', side: 'server',
    bytes: b('SEND\ndestination:/queue/a\ntransaction:tx1\ncontent-length:4\n\nbody\0'),
    frame: f('SEND', [['destination', '/queue/a'], ['transaction', 'tx1'], ['content-length', '4']], 'body') },
  { name: 'spec: SUBSCRIBE', version: '1.2', side: 'server',
    bytes: b('SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0'),
    frame: f('SUBSCRIBE', [['id', '0'], ['destination', '/queue/foo'], ['ack', 'client']]) },
  { name: 'spec: UNSUBSCRIBE', version: '1.2', side: 'server',
    bytes: b('UNSUBSCRIBE\nid:0\n\n\0'), frame: f('UNSUBSCRIBE', [['id', '0']]) },
  { name: 'spec: ACK', version: '1.2', side: 'server',
    bytes: b('ACK\nid:12345\ntransaction:tx1\n\n\0'), frame: f('ACK', [['id', '12345'], ['transaction', 'tx1']]) },
  { name: 'spec: NACK', version: '1.2', side: 'server',
    bytes: b('NACK\nid:12345\ntransaction:tx1\n\n\0'), frame: f('NACK', [['id', '12345'], ['transaction', 'tx1']]) },
  { name: 'spec: BEGIN', version: '1.2', side: 'server', bytes: b('BEGIN\ntransaction:tx1\n\n\0'), frame: f('BEGIN', [['transaction', 'tx1']]) },
  { name: 'spec: COMMIT', version: '1.2', side: 'server', bytes: b('COMMIT\ntransaction:tx1\n\n\0'), frame: f('COMMIT', [['transaction', 'tx1']]) },
  { name: 'spec: ABORT', version: '1.2', side: 'server', bytes: b('ABORT\ntransaction:tx1\n\n\0'), frame: f('ABORT', [['transaction', 'tx1']]) },
  { name: 'spec: DISCONNECT', version: '1.2', side: 'server', bytes: b('DISCONNECT\nreceipt:77\n\n\0'), frame: f('DISCONNECT', [['receipt', '77']]) },
  { name: 'spec: RECEIPT', version: '1.2', side: 'client', bytes: b('RECEIPT\nreceipt-id:77\n\n\0'), frame: f('RECEIPT', [['receipt-id', '77']]) },
  { name: 'spec: MESSAGE', version: '1.2', side: 'client',
    bytes: b('MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\ncontent-type:text/plain\ncontent-length:13\n\nhello queue a\0'),
    frame: f('MESSAGE', [['subscription', '0'], ['message-id', '007'], ['destination', '/queue/a'], ['content-type', 'text/plain'], ['content-length', '13']], 'hello queue a') },
  { name: 'spec: ERROR', version: '1.2', side: 'client',
    bytes: b('ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:59\nmessage:malformed frame received\n\n'
      + 'Did not contain a destination header, which is REQUIRED\n...\0'),
    frame: f('ERROR', [['receipt-id', 'message-12345'], ['content-type', 'text/plain'], ['content-length', '59'], ['message', 'malformed frame received']],
      'Did not contain a destination header, which is REQUIRED\n...') },
  { name: 'spec: STOMP frame (1.1+ CONNECT)', version: '1.1', side: 'server',
    bytes: b('STOMP\naccept-version:1.1,1.2\nhost:vhost\nheart-beat:0,10000\n\n\0'),
    frame: f('STOMP', [['accept-version', '1.1,1.2'], ['host', 'vhost'], ['heart-beat', '0,10000']]) },
  { name: '1.0 CONNECT with login (no accept-version)', version: '1.0', side: 'server',
    bytes: b('CONNECT\nlogin:guest\npasscode:p:a\\ss\n\n\0'),
    frame: f('CONNECT', [['login', 'guest'], ['passcode', 'p:a\\ss']]) },

  // --- Escaping per version ---
  { name: '1.2 escapes \\r \\n \\c \\\\ in names and values', version: '1.2', side: 'client',
    bytes: b('MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\nk\\cey:a\\cb\\nc\\\\d\\re\n\n\0'),
    frame: f('MESSAGE', [['destination', '/q'], ['message-id', '1'], ['subscription', 's'], ['k:ey', 'a:b\nc\\d\re']]) },
  { name: '1.1 escapes \\n \\c \\\\', version: '1.1', side: 'server',
    bytes: b('SEND\ndestination:/queue/a\\cb\nx:line1\\nline2\\\\\n\n\0'),
    frame: f('SEND', [['destination', '/queue/a:b'], ['x', 'line1\nline2\\']]) },
  { name: '1.0 has no escaping: backslashes and extra colons are literal', version: '1.0', side: 'server',
    bytes: b('SEND\ndestination:/queue/a\\nb\nx:y:z\n\n\0'),
    frame: f('SEND', [['destination', '/queue/a\\nb'], ['x', 'y:z']]) },
  { name: 'CONNECTED is never escaped, even in 1.2', version: '1.2', side: 'client',
    bytes: b('CONNECTED\nversion:1.2\nserver:hawser\\c1 x:y\n\n\0'),
    frame: f('CONNECTED', [['version', '1.2'], ['server', 'hawser\\c1 x:y']]) },
  { name: 'CONNECT is never escaped, even in 1.2', version: '1.2', side: 'server',
    bytes: b('CONNECT\naccept-version:1.2\npasscode:a\\tb:c\n\n\0'),
    frame: f('CONNECT', [['accept-version', '1.2'], ['passcode', 'a\\tb:c']]) },

  // --- Header shapes ---
  { name: 'repeated headers are kept in order', version: '1.2', side: 'client',
    bytes: b('MESSAGE\ndestination:/q\nmessage-id:1\nsubscription:s\nfoo:first\nfoo:second\nfoo:third\n\n\0'),
    frame: f('MESSAGE', [['destination', '/q'], ['message-id', '1'], ['subscription', 's'], ['foo', 'first'], ['foo', 'second'], ['foo', 'third']]) },
  { name: 'whitespace is part of names and values (STOMP 1.2: no trimming)', version: '1.2', side: 'server',
    bytes: b('SEND\ndestination:/q\n x : y \nempty:\n\n\0'),
    frame: f('SEND', [['destination', '/q'], [' x ', ' y '], ['empty', '']]) },
  { name: 'UTF-8 in headers and body', version: '1.2', side: 'server',
    bytes: b('SEND\ndestination:/queue/ünïcødé☃😀\ncontent-length:7\n\nh€llo\0'),
    frame: f('SEND', [['destination', '/queue/ünïcødé☃😀'], ['content-length', '7']], 'h€llo') },
  { name: 'explicit content-length:0', version: '1.2', side: 'server',
    bytes: b('SEND\ndestination:/q\ncontent-length:0\n\n\0'),
    frame: f('SEND', [['destination', '/q'], ['content-length', '0']]) },

  // --- Bodies ---
  { name: 'binary body with NULs (content-length)', version: '1.2', side: 'server',
    bytes: Buffer.concat([b('SEND\ndestination:/q\ncontent-type:application/octet-stream\ncontent-length:6\n\n'), b([0, 1, 0, 255, 10, 0]), b([0])]),
    frame: f('SEND', [['destination', '/q'], ['content-type', 'application/octet-stream'], ['content-length', '6']], b([0, 1, 0, 255, 10, 0])) },
  { name: 'body that is only NULs', version: '1.0', side: 'client',
    bytes: Buffer.concat([b('MESSAGE\ndestination:/q\nmessage-id:1\ncontent-length:3\n\n'), b([0, 0, 0, 0])]),
    frame: f('MESSAGE', [['destination', '/q'], ['message-id', '1'], ['content-length', '3']], b([0, 0, 0])) },
  { name: 'content-length header not first, first occurrence wins', version: '1.2', side: 'server', parseOnly: true,
    bytes: b('SEND\ndestination:/q\ncontent-length:2\ncontent-length:9\n\nab\0'),
    frame: f('SEND', [['destination', '/q'], ['content-length', '2'], ['content-length', '9']], 'ab') },

  // --- EOLs ---
  { name: 'CRLF line endings (STOMP 1.2)', version: '1.2', side: 'server', parseOnly: true,
    bytes: b('SEND\r\ndestination:/q\r\nreceipt:r1\r\n\r\nhi\0'),
    frame: f('SEND', [['destination', '/q'], ['receipt', 'r1']], 'hi') },
  { name: 'CRLF before negotiation (a 1.2 client\'s CONNECT)', version: '1.0', side: 'server', parseOnly: true,
    bytes: b('CONNECT\r\naccept-version:1.2\r\nhost:h\r\n\r\n\0'),
    frame: f('CONNECT', [['accept-version', '1.2'], ['host', 'h']]) },
];

function parseAll(bytes: Buffer | Buffer[], side: 'server' | 'client', version: StompVersion): ParseEvent[] {
  const p = new StompParser({ side, version });
  const events: ParseEvent[] = [];
  for (const c of Array.isArray(bytes) ? bytes : [bytes]) events.push(...p.push(c));
  assert.equal(p.buffered, 0, 'nothing left buffered');
  return events;
}
const frames = (events: ParseEvent[]): StompFrame[] => events.flatMap((e) => (e.type === 'frame' ? [e.frame] : []));

describe('fixtures', () => {
  for (const fx of fixtures) {
    describe(fx.name, () => {
      test('parse the bytes', () => {
        assert.deepEqual(parseAll(fx.bytes, fx.side, fx.version), [{ type: 'frame', frame: fx.frame }]);
      });
      if (!fx.parseOnly) {
        test('encode the frame', () => {
          assert.deepEqual(encodeFrame(fx.frame, fx.version), fx.bytes);
        });
      }
      test('round-trip', () => {
        // The encoder adds content-length to a body that has none.
        const hasLength = fx.frame.headers.some(([k]) => k === 'content-length');
        const want = fx.frame.body.length > 0 && !hasLength
          ? { ...fx.frame, headers: [...fx.frame.headers, ['content-length', String(fx.frame.body.length)] as [string, string]] }
          : fx.frame;
        assert.deepEqual(frames(parseAll(encodeFrame(fx.frame, fx.version), fx.side, fx.version)), [want]);
      });
      test('split at every byte position', () => {
        for (let i = 0; i <= fx.bytes.length; i++) {
          const got = parseAll([fx.bytes.subarray(0, i), fx.bytes.subarray(i)], fx.side, fx.version);
          assert.deepEqual(got, [{ type: 'frame', frame: fx.frame }], `split at ${i}`);
        }
      });
      test('one byte at a time', () => {
        const bytes = [...fx.bytes].map((x) => Buffer.from([x]));
        assert.deepEqual(parseAll(bytes, fx.side, fx.version), [{ type: 'frame', frame: fx.frame }]);
      });
    });
  }
});

describe('streams of frames', () => {
  const stream = (side: 'server' | 'client', version: StompVersion) => fixtures.filter((x) => x.side === side && x.version === version && !x.frame.command.startsWith('CONNECT') && x.frame.command !== 'STOMP');

  test('all fixtures back to back, with heart-beats between them, split at every position', () => {
    const fxs = stream('client', '1.2');
    const parts: Buffer[] = [b('\n')];
    const expected: ParseEvent[] = [{ type: 'heartbeat' }];
    for (const fx of fxs) {
      parts.push(fx.bytes, b('\r\n\n'));
      expected.push({ type: 'frame', frame: fx.frame }, { type: 'heartbeat' }, { type: 'heartbeat' });
    }
    const all = Buffer.concat(parts);
    assert.deepEqual(parseAll(all, 'client', '1.2'), expected);
    for (let i = 0; i <= all.length; i++) {
      assert.deepEqual(parseAll([all.subarray(0, i), all.subarray(i)], 'client', '1.2'), expected, `split at ${i}`);
    }
    // three pieces, a coarser sweep
    for (let i = 0; i <= all.length; i += 7) {
      for (let j = i; j <= all.length; j += 13) {
        assert.deepEqual(parseAll([all.subarray(0, i), all.subarray(i, j), all.subarray(j)], 'client', '1.2'), expected, `split at ${i},${j}`);
      }
    }
  });

  test('heart-beats: LF and CRLF between frames, before the first, after the NUL', () => {
    const bytes = b('\n\r\n\nSEND\ndestination:/q\n\nA\0\n\r\n\nSEND\ndestination:/q\n\nB\0\r\n');
    const hb = { type: 'heartbeat' } as const;
    const expected: ParseEvent[] = [
      hb, hb, hb, { type: 'frame', frame: f('SEND', [['destination', '/q']], 'A') },
      hb, hb, hb, { type: 'frame', frame: f('SEND', [['destination', '/q']], 'B') }, hb,
    ];
    assert.deepEqual(parseAll(bytes, 'server', '1.2'), expected);
    for (let i = 0; i <= bytes.length; i++) assert.deepEqual(parseAll([bytes.subarray(0, i), bytes.subarray(i)], 'server', '1.2'), expected);
    assert.deepEqual(parseAll(HEARTBEAT, 'server', '1.0'), [hb]);
  });

  test('a lone CR between frames waits for its LF', () => {
    const p = new StompParser({ side: 'server' });
    assert.deepEqual(p.push(b('\r')), []);
    assert.equal(p.buffered, 1);
    assert.deepEqual(p.push(b('\n')), [{ type: 'heartbeat' }]);
    assert.equal(p.buffered, 0);
  });

  test('buffered counts an incomplete frame', () => {
    const p = new StompParser({ side: 'server' });
    p.push(b('SEND\ndestination:/q\n\nabc'));
    assert.equal(p.buffered, 24);
    assert.equal(p.push(b('\0')).length, 1);
    assert.equal(p.buffered, 0);
  });

  test('the body is a copy, not a view of the pushed chunk', () => {
    const chunk = b('SEND\ndestination:/q\n\nabc\0');
    const [ev] = new StompParser({ side: 'server' }).push(chunk);
    chunk.fill(0x78);
    assert.equal(ev?.type === 'frame' && ev.frame.body.toString(), 'abc');
  });

  test('large body in small chunks is linear (no re-scanning)', () => {
    const body = Buffer.alloc(1024 * 1024, 0x61);
    const bytes = Buffer.concat([b('SEND\ndestination:/q\n\n'), body, b([0])]);
    for (const withLength of [false, true]) {
      const data = withLength ? encodeFrame(f('SEND', [['destination', '/q']], body), '1.2') : bytes;
      const p = new StompParser({ side: 'server', version: '1.2' });
      const started = Date.now();
      const out: ParseEvent[] = [];
      for (let i = 0; i < data.length; i += 16) out.push(...p.push(data.subarray(i, i + 16)));
      assert.equal(out.length, 1);
      assert.ok(out[0]?.type === 'frame' && out[0].frame.body.equals(body));
      assert.ok(Date.now() - started < 5000, 'parsing 1 MiB in 16-byte chunks took too long');
    }
  });
});

describe('escaping per version', () => {
  const parse1 = (bytes: string, version: StompVersion, side: 'server' | 'client' = 'server'): StompFrame => {
    const ev = new StompParser({ side, version }).push(b(bytes));
    assert.equal(ev.length, 1);
    return (ev[0] as { frame: StompFrame }).frame;
  };

  test('\\n is a newline in 1.1 and 1.2, two characters in 1.0', () => {
    assert.deepEqual(parse1('SEND\ndestination:/q\nx:a\\nb\n\n\0', '1.0').headers[1], ['x', 'a\\nb']);
    assert.deepEqual(parse1('SEND\ndestination:/q\nx:a\\nb\n\n\0', '1.1').headers[1], ['x', 'a\nb']);
    assert.deepEqual(parse1('SEND\ndestination:/q\nx:a\\nb\n\n\0', '1.2').headers[1], ['x', 'a\nb']);
  });

  test('\\r is defined in 1.2 only', () => {
    assert.deepEqual(parse1('SEND\ndestination:/q\nx:a\\rb\n\n\0', '1.2').headers[1], ['x', 'a\rb']);
    assert.throws(() => parse1('SEND\ndestination:/q\nx:a\\rb\n\n\0', '1.1'),
      { code: 'MALFORMED_FRAME', message: 'undefined escape sequence "\\\\r" in header "a\\\\rb" (STOMP 1.1 defines \\n \\c \\\\)' });
  });

  test('encoder escapes per version', () => {
    const fr = f('SEND', [['destination', '/q'], ['k:x', 'a:b\\c\nd']]);
    assert.equal(encodeFrame(fr, '1.1').toString(), 'SEND\ndestination:/q\nk\\cx:a\\cb\\\\c\\nd\n\n\0');
    assert.equal(encodeFrame(fr, '1.2').toString(), 'SEND\ndestination:/q\nk\\cx:a\\cb\\\\c\\nd\n\n\0');
    assert.equal(encodeFrame(f('SEND', [['x', 'a\rb']]), '1.2').toString(), 'SEND\nx:a\\rb\n\n\0');
    assert.equal(encodeFrame(f('SEND', [['x', 'a:b\\c']]), '1.0').toString(), 'SEND\nx:a:b\\c\n\n\0');
  });

  test('encoder refuses what the version cannot carry', () => {
    assert.throws(() => encodeFrame(f('SEND', [['x', 'a\nb']]), '1.0'),
      { code: 'BAD_HEADER_VALUE', message: 'SEND header x "a\\nb" contains a CR or LF, which cannot be sent unescaped (STOMP 1.0)' });
    assert.throws(() => encodeFrame(f('SEND', [['x:y', 'v']]), '1.0'), { code: 'BAD_HEADER_VALUE' });
    assert.throws(() => encodeFrame(f('SEND', [['x', 'a\rb']]), '1.1'),
      { code: 'BAD_HEADER_VALUE', message: 'SEND header x "a\\rb" contains a CR, which STOMP 1.1 cannot escape' });
    assert.throws(() => encodeFrame(f('CONNECTED', [['x', 'a\nb']]), '1.2'), { code: 'BAD_HEADER_VALUE' });
  });

  test('CONNECT/CONNECTED are not escaped by the encoder', () => {
    assert.equal(encodeFrame(f('CONNECT', [['passcode', 'a:b\\c']]), '1.2').toString(), 'CONNECT\npasscode:a:b\\c\n\n\0');
    assert.equal(encodeFrame(f('CONNECTED', [['server', 'x:1']]), '1.2').toString(), 'CONNECTED\nserver:x:1\n\n\0');
  });

  test('setVersion switches the rules for the next frames', () => {
    const p = new StompParser({ side: 'server', autoVersion: false });
    const send = b('SEND\ndestination:/q\nx:a\\cb\n\n\0');
    assert.deepEqual((p.push(send)[0] as { frame: StompFrame }).frame.headers[1], ['x', 'a\\cb']);
    p.setVersion('1.1');
    assert.equal(p.currentVersion, '1.1');
    assert.deepEqual((p.push(send)[0] as { frame: StompFrame }).frame.headers[1], ['x', 'a:b']);
  });

  test('autoVersion: frames pipelined behind CONNECT use the negotiated version', () => {
    const bytes = b('CONNECT\naccept-version:1.0,1.1,1.2\nhost:h\n\n\0SEND\ndestination:/q\nx:a\\rb\n\n\0');
    const p = new StompParser({ side: 'server' });
    const ev = p.push(bytes);
    assert.equal(p.currentVersion, '1.2');
    assert.deepEqual((ev[1] as { frame: StompFrame }).frame.headers[1], ['x', 'a\rb']);
    const p11 = new StompParser({ side: 'server', supportedVersions: ['1.0', '1.1'] });
    assert.throws(() => p11.push(bytes), { code: 'MALFORMED_FRAME' });
    const off = new StompParser({ side: 'server', autoVersion: false });
    assert.deepEqual((off.push(bytes)[1] as { frame: StompFrame }).frame.headers[1], ['x', 'a\\rb']);
    const noAccept = new StompParser({ side: 'server' });
    noAccept.push(b('CONNECT\n\n\0'));
    assert.equal(noAccept.currentVersion, '1.0');
  });

  test('autoVersion on the client side follows CONNECTED version', () => {
    const p = new StompParser({ side: 'client' });
    const ev = p.push(b('CONNECTED\nversion:1.1\n\n\0MESSAGE\ndestination:/q\\c1\nmessage-id:1\nsubscription:s\n\n\0'));
    assert.equal(p.currentVersion, '1.1');
    assert.deepEqual((ev[1] as { frame: StompFrame }).frame.headers[0], ['destination', '/q:1']);
  });
});

describe('encoder', () => {
  test('adds content-length for a non-empty body, ends with NUL', () => {
    const out = encodeFrame(f('SEND', [['destination', '/q']], 'hé'), '1.2');
    assert.equal(out.toString(), 'SEND\ndestination:/q\ncontent-length:3\n\nhé\0');
    assert.equal(out[out.length - 1], 0);
  });
  test('no content-length for an empty body', () => {
    assert.equal(encodeFrame(f('DISCONNECT', [['receipt', '1']]), '1.0').toString(), 'DISCONNECT\nreceipt:1\n\n\0');
  });
  test('keeps a correct content-length, rejects a wrong one', () => {
    assert.equal(encodeFrame(f('SEND', [['content-length', '2'], ['destination', '/q']], 'ab'), '1.2').toString(),
      'SEND\ncontent-length:2\ndestination:/q\n\nab\0');
    assert.throws(() => encodeFrame(f('SEND', [['content-length', '5']], 'ab'), '1.2'),
      { code: 'BAD_HEADER_VALUE', message: 'SEND frame has content-length "5" but a body of 2 bytes' });
  });
  test('rejects a bad command', () => {
    assert.throws(() => encodeFrame(f('SE\nND', []), '1.2'), (e: unknown) => e instanceof StompError && e.code === 'UNKNOWN_COMMAND');
  });
  test('HEARTBEAT is one LF', () => {
    assert.deepEqual(HEARTBEAT, b('\n'));
  });
});
