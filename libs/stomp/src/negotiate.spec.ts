// Version and heart-beat negotiation (STOMP 1.1+).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { negotiateVersion, negotiateHeartBeat, parseHeartBeat, parseAcceptVersion } from './negotiate';

describe('negotiateVersion', () => {
  const cases: Array<[string | undefined, readonly ('1.0' | '1.1' | '1.2')[] | undefined, string | undefined]> = [
    [undefined, undefined, '1.0'],            // STOMP 1.1: no accept-version means 1.0
    ['1.0', undefined, '1.0'],
    ['1.1', undefined, '1.1'],
    ['1.0,1.1,1.2', undefined, '1.2'],
    ['1.2,1.0', undefined, '1.2'],            // order does not matter
    ['1.0, 1.1', undefined, '1.1'],           // tolerate spaces
    ['1.1,2.0', undefined, '1.1'],            // unknown versions are ignored
    ['2.0', undefined, undefined],
    ['', undefined, undefined],
    ['1.0,1.1,1.2', ['1.0', '1.1'], '1.1'],
    ['1.2', ['1.0', '1.1'], undefined],
    [undefined, ['1.1', '1.2'], undefined],   // a 1.0-only client when 1.0 is disabled
  ];
  for (const [accept, supported, want] of cases) {
    test(`${JSON.stringify(accept)} with ${supported ? supported.join(',') : 'all'} -> ${want}`, () => {
      assert.equal(negotiateVersion(accept, supported), want);
    });
  }
});

describe('parseAcceptVersion', () => {
  test('accepts a version list', () => assert.deepEqual(parseAcceptVersion('1.0,1.1, 2.0'), ['1.0', '1.1', '2.0']));
  test('rejects junk', () => {
    assert.throws(() => parseAcceptVersion('1.0;1.1'), { code: 'BAD_HEADER_VALUE' });
    assert.throws(() => parseAcceptVersion('1.1,,1.2'), { code: 'BAD_HEADER_VALUE' });
  });
});

describe('negotiateHeartBeat', () => {
  // [theirs, ours, send, expect] — STOMP 1.2: max() of the two sides unless either is 0.
  const cases: Array<[string | undefined, [number, number], number, number]> = [
    [undefined, [10000, 10000], 0, 0],        // peer sent no header: "0,0"
    ['0,0', [10000, 10000], 0, 0],
    ['10000,10000', [0, 0], 0, 0],
    ['10000,10000', [10000, 10000], 10000, 10000],
    ['1000,5000', [2000, 3000], 5000, 3000],  // send max(sx=2000, cy=5000), expect max(sy=3000, cx=1000)
    ['0,5000', [2000, 3000], 5000, 0],        // they cannot send: do not expect
    ['1000,0', [2000, 3000], 0, 3000],        // they do not want beats: do not send
    [' 500 , 700 ', [100, 100], 700, 500],
  ];
  for (const [theirs, ours, send, expect] of cases) {
    test(`${JSON.stringify(theirs)} vs ${ours.join(',')} -> send ${send}, expect ${expect}`, () => {
      assert.deepEqual(negotiateHeartBeat(theirs, ours), { send, expect });
    });
  }
  for (const bad of ['', '10000', '1,2,3', 'a,b', '-1,0', '1.5,0', '10000;10000', '99999999999999999999,0']) {
    test(`malformed ${JSON.stringify(bad)} is BAD_HEADER_VALUE`, () => {
      assert.throws(() => negotiateHeartBeat(bad, [1000, 1000]), {
        code: 'BAD_HEADER_VALUE',
        message: `heart-beat header ${JSON.stringify(bad)} is not "<cx>,<cy>" (two non-negative integers in milliseconds, e.g. "10000,10000")`,
      });
    });
  }
  test('parseHeartBeat', () => {
    assert.deepEqual(parseHeartBeat('0,10000'), [0, 10000]);
    assert.deepEqual(parseHeartBeat(undefined), [0, 0]);
  });
});
