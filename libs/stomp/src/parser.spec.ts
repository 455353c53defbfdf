// Parser errors and limits: every error code, with the message the peer will read.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StompParser, StompParseError, type ParserOptions } from './parser';
import { StompError, type StompErrorCode } from './errors';
import type { StompVersion } from './frame';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

interface ErrorCase {
  name: string;
  input: string | Buffer | Array<string | Buffer>;
  code: StompErrorCode;
  message?: string;
  options?: Partial<ParserOptions>;
  version?: StompVersion;
}

const cases: ErrorCase[] = [
  { name: 'unknown command', input: 'FOO\n\n\0', code: 'UNKNOWN_COMMAND',
    message: 'unknown command "FOO": a STOMP client sends one of CONNECT, STOMP, SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN, COMMIT, ABORT, DISCONNECT' },
  { name: 'commands are case-sensitive', input: 'send\ndestination:/q\n\n\0', code: 'UNKNOWN_COMMAND' },
  { name: 'server command sent to the server', input: 'MESSAGE\n\n\0', code: 'UNKNOWN_COMMAND' },
  { name: 'client command sent to the client', input: 'SEND\n\n\0', code: 'UNKNOWN_COMMAND', options: { side: 'client' },
    message: 'unknown command "SEND": a STOMP server sends one of CONNECTED, MESSAGE, RECEIPT, ERROR' },
  { name: 'garbage fails before its line ends (an HTTP request)', input: 'GET / HTTP/1.1', code: 'UNKNOWN_COMMAND',
    message: 'unknown command "GET / HTTP/1.1": a STOMP client sends one of CONNECT, STOMP, SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN, COMMIT, ABORT, DISCONNECT' },
  { name: 'command with trailing space', input: 'SEND \n\n\0', code: 'UNKNOWN_COMMAND' },

  { name: 'header line without a colon', input: 'SEND\ndestination:/q\nnocolon\n\n\0', code: 'MALFORMED_FRAME',
    message: 'SEND frame has a header line without \':\' ("nocolon")' },
  { name: 'header with an empty name', input: 'SEND\n:v\n\n\0', code: 'MALFORMED_FRAME', message: 'SEND frame has a header with an empty name (":v")' },
  { name: 'undefined escape \\t (1.2)', input: 'SEND\nx:a\\tb\n\n\0', code: 'MALFORMED_FRAME', version: '1.2',
    message: 'undefined escape sequence "\\\\t" in header "a\\\\tb" (STOMP 1.2 defines \\r \\n \\c \\\\)' },
  { name: 'undefined escape in a header name (1.1)', input: 'SEND\na\\x:b\n\n\0', code: 'MALFORMED_FRAME', version: '1.1' },
  { name: 'backslash at the end of a value (1.2)', input: 'SEND\nx:ab\\\n\n\0', code: 'MALFORMED_FRAME', version: '1.2',
    message: 'undefined escape sequence \\ at the end in header "ab\\\\" (STOMP 1.2 defines \\r \\n \\c \\\\)' },
  { name: 'content-length body not followed by NUL', input: 'SEND\ncontent-length:2\n\nabc\0', code: 'MALFORMED_FRAME',
    message: 'SEND frame body of 2 bytes (its content-length) is not followed by a NUL octet' },
  { name: 'CR inside a header value', input: 'SEND\nx:a\rb\n\n\0', code: 'MALFORMED_FRAME',
    message: 'CR not followed by LF in the SEND header line ("x:a\\rb")' },
  { name: 'CR inside the command line', input: 'SE\rND\n\n\0', code: 'MALFORMED_FRAME' },
  { name: 'CR between frames not followed by LF', input: '\rSEND\n\n\0', code: 'MALFORMED_FRAME',
    message: 'CR between frames is not followed by LF' },
  { name: 'NUL before the end of the headers', input: 'SEND\ndestination:/q\0', code: 'MALFORMED_FRAME',
    message: 'SEND frame ended (NUL) before the blank line that ends its headers' },
  { name: 'NUL in the command line', input: 'SE\0ND\n', code: 'MALFORMED_FRAME', message: 'NUL octet in the command line' },

  { name: 'content-length not a number', input: 'SEND\ncontent-length:abc\n\n\0', code: 'BAD_HEADER_VALUE',
    message: 'SEND frame has content-length "abc", which is not a non-negative integer' },
  { name: 'negative content-length', input: 'SEND\ncontent-length:-1\n\n\0', code: 'BAD_HEADER_VALUE' },
  { name: 'fractional content-length', input: 'SEND\ncontent-length:1.5\n\n\0', code: 'BAD_HEADER_VALUE' },
  { name: 'empty content-length', input: 'SEND\ncontent-length:\n\n\0', code: 'BAD_HEADER_VALUE' },

  { name: 'frame over maxFrameSize (no content-length)', input: 'SEND\ndestination:/q\n\n' + 'x'.repeat(100) + '\0',
    code: 'FRAME_TOO_LARGE', options: { maxFrameSize: 64 }, message: 'SEND frame is larger than maxFrameSize (64 bytes)' },
  { name: 'content-length over maxFrameSize fails at once', input: 'SEND\ncontent-length:1000000\n\n',
    code: 'FRAME_TOO_LARGE', options: { maxFrameSize: 1000 },
    message: 'SEND frame has content-length 1000000, larger than maxFrameSize (1000 bytes) allows' },
  { name: 'huge content-length', input: 'SEND\ncontent-length:99999999999999999999999\n\n', code: 'FRAME_TOO_LARGE' },
  { name: 'headers alone over maxFrameSize', input: 'SEND\n' + 'a:b\n'.repeat(100), code: 'FRAME_TOO_LARGE', options: { maxFrameSize: 100 } },

  { name: 'too many headers', input: 'SEND\n' + 'a:b\n'.repeat(4) + '\n\0', code: 'TOO_MANY_HEADERS', options: { maxHeaders: 3 },
    message: 'SEND frame has more than maxHeaders (3) headers' },
  { name: 'header line too long', input: 'SEND\nx:' + 'v'.repeat(20) + '\n\n\0', code: 'HEADER_TOO_LONG', options: { maxHeaderLength: 16 },
    message: 'SEND frame has a header line longer than maxHeaderLength (16 bytes)' },
  { name: 'header line too long, detected before its LF', input: 'SEND\nx:' + 'v'.repeat(20), code: 'HEADER_TOO_LONG', options: { maxHeaderLength: 16 } },
];

function run(c: ErrorCase, chunks: Buffer[]): void {
  const p = new StompParser({ side: 'server', version: c.version ?? '1.0', ...c.options });
  for (const chunk of chunks) p.push(chunk);
}

describe('parser errors', () => {
  for (const c of cases) {
    const inputs = (Array.isArray(c.input) ? c.input : [c.input]).map((x) => (typeof x === 'string' ? b(x) : x));
    const all = Buffer.concat(inputs);
    const expected = c.message === undefined ? { code: c.code } : { code: c.code, message: c.message };
    test(`${c.code}: ${c.name}`, () => {
      assert.throws(() => run(c, [all]), expected);
      assert.throws(() => run(c, [all]), (e: unknown) => e instanceof StompError && e.name === 'StompError');
    });
    test(`${c.code}: ${c.name} (one byte at a time)`, () => {
      // Same code; the message may quote less of a line that failed before its end.
      assert.throws(() => run(c, [...all].map((x) => Buffer.from([x]))), { code: c.code });
    });
  }
});

describe('parser failure handling', () => {
  test('a failed parser keeps failing', () => {
    const p = new StompParser({ side: 'server' });
    assert.throws(() => p.push(b('FOO\n')), { code: 'UNKNOWN_COMMAND' });
    assert.throws(() => p.push(b('SEND\ndestination:/q\n\n\0')), { code: 'UNKNOWN_COMMAND' });
  });

  test('frames completed before the error in the same chunk ride on the error', () => {
    const p = new StompParser({ side: 'server' });
    try {
      p.push(b('SEND\ndestination:/q\n\nok\0\nBOGUS\n'));
      assert.fail('should throw');
    } catch (e) {
      assert.ok(e instanceof StompParseError);
      assert.equal(e.code, 'UNKNOWN_COMMAND');
      assert.equal(e.events.length, 2);
      assert.equal(e.events[0]?.type, 'frame');
      assert.equal(e.events[1]?.type, 'heartbeat');
    }
  });

  test('a frame without content-length never buffers past maxFrameSize', () => {
    const p = new StompParser({ side: 'server', maxFrameSize: 1024 });
    p.push(b('SEND\ndestination:/q\n\n'));
    assert.throws(() => {
      for (let i = 0; i < 10_000; i++) {
        p.push(Buffer.alloc(100, 0x61));
        assert.ok(p.buffered <= 1024);
      }
    }, { code: 'FRAME_TOO_LARGE' });
  });

  test('a frame of exactly maxFrameSize bytes (NUL excluded) passes', () => {
    const head = 'SEND\ncontent-length:3\n\n';
    const p = new StompParser({ side: 'server', maxFrameSize: head.length + 3 });
    assert.equal(p.push(b(head + 'abc\0')).length, 1);
    const q = new StompParser({ side: 'server', maxFrameSize: head.length + 2 });
    assert.throws(() => q.push(b(head)), { code: 'FRAME_TOO_LARGE' });
    const r = new StompParser({ side: 'server', maxFrameSize: 'SEND\n\nabc'.length });
    assert.equal(r.push(b('SEND\n\nabc\0')).length, 1);
    const s = new StompParser({ side: 'server', maxFrameSize: 'SEND\n\nabc'.length - 1 });
    assert.throws(() => s.push(b('SEND\n\nabc\0')), { code: 'FRAME_TOO_LARGE' });
  });

  test('header line of exactly maxHeaderLength passes, with LF or CRLF, whole or split', () => {
    const line = 'x:' + 'v'.repeat(14); // 16 bytes
    for (const eol of ['\n', '\r\n']) {
      const bytes = b(`SEND\n${line}${eol}\n\0`);
      for (let i = 0; i <= bytes.length; i++) {
        const p = new StompParser({ side: 'server', maxHeaderLength: 16 });
        assert.equal([...p.push(bytes.subarray(0, i)), ...p.push(bytes.subarray(i))].length, 1, `split at ${i}`);
      }
    }
  });

  test('exactly maxHeaders headers pass', () => {
    const p = new StompParser({ side: 'server', maxHeaders: 3 });
    assert.equal(p.push(b('SEND\na:1\nb:2\nc:3\n\n\0')).length, 1);
  });
});
