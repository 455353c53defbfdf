// The pure parts of the fuzzer: the PRNG replays, generated frames are what the gateway's own
// parser reads as frames, mutations and splits keep their promises, ERRORs are filed under
// stable codes, the gRPC paths come from the .proto files, the monitor reads figures right.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { StompParser, validateClientFrame } from '@hawser/stomp';
import { Prng } from './prng';
import { FrameGenerator, encode, escapeValue, negotiated } from './frames';
import { mutate, split, splitLines, garbage } from './mutate';
import { ConnectionScript } from './script';
import { errorCode } from './stats';
import { metricValue, procRss, counterByLabel, gaugeSum } from './monitor';
import { grpcMethodPaths, h2Frame } from './grpc-driver';
import { wsFrame } from './ws-driver';
import { memoryTable, parseArgs } from './cli';
import type { FuzzReport } from './run';

describe('fuzz: prng', () => {
  it('replays: the same seed gives the same stream, fork(n) the same sub-stream whatever ran before', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    assert.deepEqual(Array.from({ length: 100 }, () => a.u32()), Array.from({ length: 100 }, () => b.u32()));
    assert.notDeepEqual(Array.from({ length: 10 }, () => new Prng(1).u32()), Array.from({ length: 10 }, () => new Prng(2).u32()).map(() => 0));
    const c = new Prng(7);
    c.u32(); c.u32();
    assert.equal(c.fork(5).u32(), new Prng(7).fork(5).u32());
    assert.notEqual(new Prng(7).fork(5).u32(), new Prng(7).fork(6).u32());
  });

  it('int and range stay in bounds; weighted honours zero weights', () => {
    const r = new Prng(3);
    for (let i = 0; i < 10_000; i++) {
      const n = r.int(7);
      assert.ok(n >= 0 && n < 7);
      const m = r.range(-3, 3);
      assert.ok(m >= -3 && m <= 3);
      assert.equal(r.weighted([[0, 'never'], [1, 'always']] as const), 'always');
    }
  });
});

describe('fuzz: frames', () => {
  it('escapes per version and negotiates like the gateway', () => {
    assert.equal(escapeValue('a:b\\c\nd\re', '1.2'), 'a\\cb\\\\c\\nd\\re');
    assert.equal(escapeValue('a:b\re', '1.1'), 'a\\cb\re');
    assert.equal(escapeValue('a:b', '1.0'), 'a:b');
    assert.equal(negotiated(undefined), '1.0');
    assert.equal(negotiated('1.0,1.1'), '1.1');
    assert.equal(negotiated('2.0'), undefined);
    assert.deepEqual(encode('SEND', [['destination', '/q']], Buffer.from('x'), { escape: '1.2' }), Buffer.from('SEND\ndestination:/q\ncontent-length:1\n\nx\0'));
  });

  it('a connection with no mutations is mostly frames the gateway parser reads and validates', () => {
    let frames = 0;
    let accepted = 0;
    for (let seed = 0; seed < 200; seed++) {
      const rng = new Prng(seed);
      const g = new FrameGenerator(rng);
      const connect = g.connect();
      const parser = new StompParser({ side: 'server' });
      try {
        const evs = parser.push(connect.bytes);
        const f = evs.find((e) => e.type === 'frame');
        assert.ok(f && f.type === 'frame');
        assert.equal(f.frame.command, connect.command);
        parser.setVersion(g.version);
      } catch { continue; } // a bad accept-version or header line on purpose
      for (let i = 0; i < 20; i++) {
        const next = g.next();
        if (next.command === 'EOL' || next.command === 'CONNECT' || next.command === 'STOMP') continue;
        frames++;
        try {
          const ev = parser.push(next.bytes).find((e) => e.type === 'frame');
          if (ev && ev.type === 'frame') { validateClientFrame(ev.frame, g.version); accepted++; }
        } catch { break; } // the parser is done after an error, like the connection
      }
    }
    // Most frames are valid (so connections get deep), and a real share is not.
    assert.ok(frames > 500, `frames ${frames}`);
    assert.ok(accepted / frames > 0.6, `accepted ${accepted} of ${frames}`);
    assert.ok(accepted / frames < 0.99, `accepted ${accepted} of ${frames}: the generator should also make bad frames`);
  });

  it('covers every client command, STOMP 1.0/1.1/1.2, selectors and receipts', () => {
    const commands = new Set<string>();
    const versions = new Set<string>();
    let selectors = 0;
    for (let seed = 0; seed < 300; seed++) {
      const g = new FrameGenerator(new Prng(seed));
      commands.add(g.connect().command);
      versions.add(g.version);
      for (let i = 0; i < 30; i++) {
        const f = g.next();
        commands.add(f.command);
        if (f.command === 'SUBSCRIBE' && f.bytes.includes('\nselector:')) selectors++;
      }
      commands.add(g.disconnect().command);
    }
    for (const c of ['CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT']) assert.ok(commands.has(c), c);
    assert.deepEqual([...versions].sort(), ['1.0', '1.1', '1.2']);
    assert.ok(selectors > 50, `selectors ${selectors}`);
  });

  it('ACK ids from MESSAGEs are used without changing the other draws (a seed replays the same frames)', () => {
    const run = (feed: boolean) => {
      const g = new FrameGenerator(new Prng(99));
      g.connect();
      const out: string[] = [];
      for (let i = 0; i < 300; i++) {
        if (feed) g.delivered({ ack: `tag-${i}`, messageId: `m-${i}`, subscription: 's' });
        const f = g.next();
        out.push(f.command);
      }
      return out;
    };
    assert.deepEqual(run(true), run(false));
  });
});

describe('fuzz: mutations and splits', () => {
  it('split() pieces concatenate to the input', () => {
    const rng = new Prng(5);
    for (let i = 0; i < 500; i++) {
      const data = rng.bytes(rng.range(0, 300));
      const pieces = split(rng, data);
      assert.deepEqual(Buffer.concat(pieces), data);
      assert.ok(pieces.every((p) => p.length > 0) || data.length === 0);
    }
  });

  it('splitLines keeps every byte; mutate changes frames and says how', () => {
    assert.deepEqual(Buffer.concat(splitLines(Buffer.from('a\nb\n\nc'))), Buffer.from('a\nb\n\nc'));
    const rng = new Prng(11);
    const g = new FrameGenerator(rng);
    let changed = 0;
    for (let i = 0; i < 300; i++) {
      const f = g.next().bytes;
      const m = mutate(rng, f, g.next().bytes);
      assert.ok(m.mutations.length >= 1);
      if (!m.bytes.equals(f)) changed++;
    }
    assert.ok(changed > 270, `changed ${changed}`);
    for (let i = 0; i < 100; i++) assert.ok(garbage(rng).length >= 0);
  });

  it('a script is the same for the same seed, and its frame count honours the budget', () => {
    const bytes = (seed: number) => {
      const s = new ConnectionScript(new Prng(seed), 50, { now: () => 0 });
      const out: Buffer[] = [];
      let frames = 0;
      for (let b = s.next(); b; b = s.next()) { out.push(...b.writes); frames += b.frames; }
      return { all: Buffer.concat(out), frames, budget: 50 };
    };
    for (let seed = 0; seed < 50; seed++) {
      const a = bytes(seed);
      assert.deepEqual(a.all, bytes(seed).all);
      assert.ok(a.frames <= a.budget + 2, `frames ${a.frames}`); // + the CONNECT and the DISCONNECT
    }
  });
});

describe('fuzz: reports and helpers', () => {
  it('files an ERROR under the store code its body starts with, else under its message with values blanked', () => {
    assert.equal(errorCode('whatever', 'FORBIDDEN: user x may not'), 'FORBIDDEN');
    assert.equal(errorCode('ACK for unknown message id 1947937604', 'ACK for unknown message id 1947937604\n'), 'ACK for unknown message id N');
    assert.equal(errorCode('unknown command "FROB": a STOMP client sends one of', ''), errorCode('unknown command "X Y": a STOMP client sends one of', ''));
  });

  it('reads a prefixed resident-memory metric and a /proc status', () => {
    assert.equal(metricValue('# HELP x\nhawser_process_process_resident_memory_bytes 123456\n', 'process_resident_memory_bytes'), 123456);
    assert.equal(metricValue('process_resident_memory_bytes 7e6\n', 'process_resident_memory_bytes'), 7e6);
    assert.equal(metricValue('hawser_process_process_resident_memory_bytes{service="store",node="s1"} 137347072\n', 'process_resident_memory_bytes'), 137347072);
    assert.equal(metricValue('other 1\n', 'process_resident_memory_bytes'), undefined);
    const me = procRss(process.pid);
    assert.equal(me.alive, true);
    assert.ok((me.rssBytes ?? 0) > 1_000_000);
    assert.ok((me.fds ?? 0) > 2);
    assert.deepEqual(counterByLabel([
      '# TYPE hawser_gateway_errors_total counter',
      'hawser_gateway_errors_total{code="MALFORMED_FRAME",service="gateway",instance="gw1"} 629',
      'hawser_gateway_errors_total{service="store",code="UNKNOWN_COMMAND"} 2',
      'hawser_gateway_errors_total{code="MALFORMED_FRAME",service="gateway",instance="gw2"} 1',
    ].join('\n'), 'hawser_gateway_errors_total', 'code'), { MALFORMED_FRAME: 630, UNKNOWN_COMMAND: 2 });
    assert.equal(procRss(2 ** 22 + 12345).alive, false);
    assert.deepEqual(gaugeSum([
      '# TYPE hawser_store_queue_depth gauge',
      'hawser_store_queue_depth{destination="/queue/fuzz.1",service="store"} 7',
      'hawser_store_queue_depth{destination="durable:a}b:d1",service="store"} 1754',
      'hawser_store_queue_depth_other{destination="x"} 5',
    ].join('\n'), 'hawser_store_queue_depth'), { sum: 1761, series: 2 });
    assert.equal(gaugeSum('other 1\n', 'hawser_store_queue_depth'), undefined);
  });

  it('finds the gRPC methods in proto/hawser and builds HTTP/2 and WebSocket frames', () => {
    const paths = grpcMethodPaths(resolve(__dirname, '../../../proto/hawser'));
    assert.ok(paths.includes('/hawser.broker.v1.Broker/Sessions'), paths.join(' '));
    assert.ok(paths.includes('/hawser.admin.v1.Admin/Purge'));
    assert.deepEqual(h2Frame(4, 0, 0, Buffer.alloc(0)), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    const ws = wsFrame(2, Buffer.from('hi'), { unmasked: true });
    assert.deepEqual(ws, Buffer.from([0x82, 2, 0x68, 0x69]));
    assert.equal(wsFrame(2, Buffer.alloc(70_000))[1], 0x80 | 127);
  });

  it('parses the command line, naming the option in errors', () => {
    const { options, json } = parseArgs(['--uri', 'stomp://127.0.0.1:61613', '--frames', '500', '--seed', '9', '--grpc', '127.0.0.1:1,127.0.0.1:2', '--json'], () => undefined);
    assert.equal(options.frames, 500);
    assert.equal(options.seed, 9);
    assert.equal(options.grpc.length, 2);
    assert.equal(json, true);
    assert.throws(() => parseArgs(['--frames', '10'], () => undefined), /--uri is required/);
    assert.throws(() => parseArgs(['--uri', 'ws://x:1'], () => undefined), /--uri/);
    assert.throws(() => parseArgs(['--uri', 'stomp://a:1', '--frames', '-3'], () => undefined), /--frames/);
    assert.throws(() => parseArgs(['--uri', 'stomp://a:1', '--bogus', '1'], () => undefined), /unknown option --bogus/);
    assert.deepEqual([...options.traffic].sort(), ['grpc', 'tcp', 'ws']);
    assert.equal(options.maxRssLateGrowthMb, undefined);
    const only = parseArgs(['--uri', 'stomp://a:1', '--traffic', 'grpc', '--duration', '60', '--max-rss-late-growth', '40'], () => undefined).options;
    assert.deepEqual([...only.traffic], ['grpc']);
    assert.equal(only.durationMs, 60_000);
    assert.equal(only.maxRssLateGrowthMb, 40);
    assert.equal(only.settleMs, 0);
    assert.equal(parseArgs(['--uri', 'stomp://a:1', '--settle', '30'], () => undefined).options.settleMs, 30_000);
    assert.equal(parseArgs(['--uri', 'stomp://a:1', '--witness-queue', '/queue/w'], () => undefined).options.witnessQueue, '/queue/w');
    assert.throws(() => parseArgs(['--uri', 'stomp://a:1', '--traffic', 'grpc'], () => undefined), /--duration is required/);
    assert.throws(() => parseArgs(['--uri', 'stomp://a:1', '--traffic', 'tcp,mqtt'], () => undefined), /--traffic: expected some of tcp,ws,grpc/);
  });

  it('tabulates the memory timeline of the watched HTTP ports', () => {
    const point = (s: number, rssMb: number) => ({
      atMs: s * 1000, frames: s * 100, wsConnections: 0, grpcConnections: 0,
      processes: [{ name: 'pid 1', rss: rssMb * 1048576 }, { name: 'http h:1', rss: rssMb * 1048576, heapUsed: 20 * 1048576, external: 3 * 1048576, handles: 30 }],
    });
    const report = { timeline: Array.from({ length: 30 }, (_, i) => point(i * 5, 80 + i)) } as unknown as FuzzReport;
    const rows = memoryTable(report);
    assert.equal(rows.length, 11, rows.join('\n'));
    assert.match(rows[0]!, /http h:1/);
    assert.doesNotMatch(rows[0]!, /pid 1/);
    assert.match(rows[1]!, /^\s+0\s+0\s+80\/20\/3 30$/);
    assert.match(rows[10]!, /^\s+145\s+14500\s+109\/20\/3 30$/);
    assert.deepEqual(memoryTable({ timeline: [point(0, 1)] } as unknown as FuzzReport), []);
  });
});

