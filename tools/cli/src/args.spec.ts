import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { helpText, parseArgs, parseHostPort, parseKeyValue, usageLine, type CommandSpec } from './args';
import { UsageError } from './errors';
import { COMMANDS } from './main';

const spec: CommandSpec = {
  name: 'demo',
  summary: 'A demo command.',
  positionals: [{ name: 'destination', required: true, help: 'where' }, { name: 'body', help: 'what' }],
  options: [
    { name: 'uri', type: 'string', default: 'stomp://127.0.0.1:61613', help: 'broker' },
    { name: 'count', type: 'int', default: 1, min: 0, arg: 'N', help: 'how many' },
    { name: 'persistent', type: 'bool', help: 'persist' },
    { name: 'header', type: 'list', arg: 'k=v', help: 'a header' },
    { name: 'ack', type: 'string', default: 'auto', values: ['auto', 'client'], help: 'ack mode' },
  ],
};

function usage(argv: string[]): UsageError {
  try {
    parseArgs(spec, argv);
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${err}`);
    return err;
  }
  assert.fail(`no UsageError for ${argv.join(' ')}`);
}

describe('parseArgs', () => {
  it('takes defaults when options are absent', () => {
    const a = parseArgs(spec, ['/queue/a']);
    assert.deepEqual(a.positionals, ['/queue/a']);
    assert.equal(a.str('uri'), 'stomp://127.0.0.1:61613');
    assert.equal(a.int('count'), 1);
    assert.equal(a.bool('persistent'), false);
    assert.deepEqual(a.list('header'), []);
    assert.equal(a.has('count'), false);
  });

  it('reads --name value, --name=value, flags and repeated lists in any order', () => {
    const a = parseArgs(spec, ['--count', '5', '/queue/a', '--persistent', '--header', 'a=1', 'hello', '--header=b=x=y', '--ack=client']);
    assert.deepEqual(a.positionals, ['/queue/a', 'hello']);
    assert.equal(a.int('count'), 5);
    assert.equal(a.bool('persistent'), true);
    assert.deepEqual(a.list('header'), ['a=1', 'b=x=y']);
    assert.equal(a.str('ack'), 'client');
    assert.equal(a.has('count'), true);
  });

  it('treats - as a positional and everything after -- as positionals', () => {
    assert.deepEqual(parseArgs(spec, ['/queue/a', '-']).positionals, ['/queue/a', '-']);
    assert.deepEqual(parseArgs(spec, ['--', '--weird', '-x']).positionals, ['--weird', '-x']);
  });

  it('--persistent=false turns a flag off', () => {
    assert.equal(parseArgs(spec, ['/q', '--persistent=false']).bool('persistent'), false);
  });

  it('-h/--help skips the positional checks', () => {
    assert.equal(parseArgs(spec, ['--help']).help, true);
    assert.equal(parseArgs(spec, ['-h', 'a', 'b', 'c']).help, true);
  });

  const bad: Array<[string[], RegExp]> = [
    [['/q', '--bogus'], /^unknown option --bogus for 'demo'$/],
    [['/q', '-x'], /^unknown option '-x'/],
    [['/q', '--count'], /^--count needs a value \(N\)$/],
    [['/q', '--count', 'ten'], /^--count: expected an integer, got 'ten'$/],
    [['/q', '--count', '-1'], /^--count: must be at least 0, got -1$/],
    [['/q', '--ack', 'maybe'], /^--ack: expected one of auto, client, got 'maybe'$/],
    [['/q', '--persistent=perhaps'], /^--persistent: expected true or false/],
    [[], /^missing <destination>: usage: hawser demo <destination> \[body\] \[options\]$/],
    [['/q', 'b', 'c'], /^unexpected argument 'c'/],
  ];
  for (const [argv, re] of bad) {
    it(`rejects ${JSON.stringify(argv)}`, () => {
      const e = usage(argv);
      assert.match(e.message, re);
      assert.equal(e.exitCode, 2);
      assert.equal(e.command, 'demo');
    });
  }
});

describe('help', () => {
  it('renders usage, arguments, options with defaults and repeatable lists', () => {
    const text = helpText(spec);
    assert.match(text, /^Usage: hawser demo <destination> \[body\] \[options\]\n/);
    assert.match(text, /\n {2}destination {2}where\n/);
    assert.match(text, /\n {2}--count <N> +how many \(default: 1\)\n/);
    assert.match(text, /\n {2}--ack <auto\|client> +ack mode \(default: auto\)\n/);
    assert.match(text, /\n {2}--header <k=v> +a header \(repeatable\)\n/);
    assert.match(text, /\n {2}--persistent +persist\n/);
    assert.match(text, /\n {2}-h, --help +show this help\n/);
  });

  it('every command has a summary, parses its own --help, and declares unique options', () => {
    for (const c of COMMANDS) {
      assert.ok(c.spec.summary.length > 10, c.spec.name);
      assert.equal(parseArgs(c.spec, ['--help']).help, true);
      const names = c.spec.options.map((o) => o.name);
      assert.equal(new Set(names).size, names.length, `${c.spec.name}: duplicate option`);
      assert.match(helpText(c.spec), new RegExp(`^Usage: ${usageLine(c.spec).replace(/[[\]]/g, '\\$&')}`));
    }
  });
});

describe('value helpers', () => {
  it('parseKeyValue splits at the first =', () => {
    assert.deepEqual(parseKeyValue('header', 'a=b=c', 'send'), ['a', 'b=c']);
    assert.deepEqual(parseKeyValue('header', 'a=', 'send'), ['a', '']);
    assert.throws(() => parseKeyValue('header', '=b', 'send'), /--header: expected key=value, got '=b'/);
    assert.throws(() => parseKeyValue('header', 'ab', 'send'), UsageError);
  });

  it('parseHostPort accepts host:port and [v6]:port only', () => {
    assert.equal(parseHostPort('store', '127.0.0.1:61620', 'x'), '127.0.0.1:61620');
    assert.equal(parseHostPort('store', ' [::1]:1 ', 'x'), '[::1]:1');
    for (const bad of ['127.0.0.1', ':80', 'host:0', 'host:70000', 'a b:1']) {
      assert.throws(() => parseHostPort('store', bad, 'x'), /--store: expected host:port/, bad);
    }
  });
});
