import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, envName, int, str, bool, oneOf, list, port, ConfigError, helpText } from './index';

const schema = {
  node: { id: str('n1', 'node id', { allowEmpty: false }) },
  stomp: { port: port(61613, 'STOMP port'), maxFrameSize: int(4 << 20, 'max frame', 1024, 1 << 30) },
  sync: oneOf('quorum_mem', ['local_mem', 'quorum_mem'] as const, 'sync mode'),
  debug: bool(false, 'debug'),
  peers: list([], 'peers'),
};

test('defaults apply when nothing is given', () => {
  const { config } = loadConfig(schema, { argv: [], env: {} });
  assert.equal(config.stomp.port, 61613);
  assert.equal(config.sync, 'quorum_mem');
  assert.deepEqual(config.peers, []);
});

test('env names follow the key path', () => {
  assert.equal(envName('stomp.maxFrameSize'), 'HAWSER_STOMP_MAX_FRAME_SIZE');
});

test('precedence: file < env < flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hawser-config-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ stomp: { port: 1000, maxFrameSize: 2048 }, debug: true }));
    const { config } = loadConfig(schema, {
      argv: ['--config', file, '--stomp.port=3000', '--peers', 'a,b'],
      env: { HAWSER_STOMP_PORT: '2000', HAWSER_STOMP_MAX_FRAME_SIZE: '4096' },
    });
    assert.equal(config.stomp.port, 3000);
    assert.equal(config.stomp.maxFrameSize, 4096);
    assert.equal(config.debug, true);
    assert.deepEqual(config.peers, ['a', 'b']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad values name the key and the source', () => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--stomp.port=abc'], {}, /^stomp\.port: expected an integer, got 'abc' \(from flag --stomp\.port\)$/],
    [[], { HAWSER_STOMP_PORT: '70000' }, /^stomp\.port: expected an integer from 0 to 65535, got 70000 \(from environment HAWSER_STOMP_PORT\)$/],
    [['--sync=fast'], {}, /^sync: expected one of local_mem, quorum_mem/],
    [['--debug=maybe'], {}, /^debug: expected true or false/],
    [['--nope=1'], {}, /^nope: unknown option --nope/],
    [['--node.id='], {}, /^node\.id: must not be empty/],
    [['--config', '/nonexistent/x.json'], {}, /^config: cannot read config file/],
  ];
  for (const [argv, env, re] of cases) {
    assert.throws(() => loadConfig(schema, { argv, env }), (e: unknown) => e instanceof ConfigError && re.test(e.message), argv.join(' '));
  }
});

test('unknown keys in a file are errors', () => {
  assert.throws(() => loadConfig(schema, { argv: [], env: {}, file: { stomp: { prot: 1 } } }), /stomp\.prot: unknown key/);
});

test('help lists every key with its env name', () => {
  const text = helpText('hawser-x', schema);
  assert.match(text, /--stomp\.maxFrameSize {2}HAWSER_STOMP_MAX_FRAME_SIZE/);
  assert.match(text, /--sync {2}HAWSER_SYNC {2}\[quorum_mem\] \(local_mem\|quorum_mem\)/);
});
