import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  benchId, benchText, Latencies, Ledger, parseBenchId, percentile, progressLine, throughput, type BenchResult,
} from './bench-stats';

describe('latencies', () => {
  it('nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(sorted, 50), 50);
    assert.equal(percentile(sorted, 95), 95);
    assert.equal(percentile(sorted, 99), 99);
    assert.equal(percentile(sorted, 100), 100);
    assert.equal(percentile([7], 50), 7);
    assert.equal(percentile([1, 2], 99), 2);
  });

  it('summary over many samples (the buffer grows), numeric sort not lexical', () => {
    const l = new Latencies();
    for (let i = 5000; i >= 1; i--) l.add(i / 10); // 0.1 .. 500
    const s = l.summary();
    assert.equal(s.count, 5000);
    assert.equal(s.p50, 250);
    assert.equal(s.p95, 475);
    assert.equal(s.p99, 495);
    assert.equal(s.max, 500);
    assert.equal(s.mean, 250.05);
  });

  it('no samples: nulls', () => {
    assert.deepEqual(new Latencies().summary(), { count: 0, p50: null, p95: null, p99: null, max: null, mean: null });
  });
});

describe('bench ids', () => {
  it('round-trips and rejects other runs and junk', () => {
    assert.equal(benchId('ab12', 3, 42), 'bench-ab12-3-42');
    assert.deepEqual(parseBenchId('bench-ab12-3-42', 'ab12'), [3, 42]);
    assert.equal(parseBenchId('bench-ffff-3-42', 'ab12'), undefined);
    assert.equal(parseBenchId(undefined, 'ab12'), undefined);
    assert.equal(parseBenchId('bench-ab12-3', 'ab12'), undefined);
    assert.equal(parseBenchId('bench-ab12-x-1', 'ab12'), undefined);
    assert.equal(parseBenchId('bench-ab12--1-1', 'ab12'), undefined);
  });
});

describe('ledger', () => {
  it('counts lost (receipted, never delivered) and duplicates, in either arrival order', () => {
    const l = new Ledger();
    l.receipted(0, 0);
    l.delivered(0, 0);
    l.delivered(0, 1);   // delivery before its receipt
    l.receipted(0, 1);
    l.receipted(1, 5000); // grows the array
    l.receipted(0, 2);
    assert.equal(l.delivered(0, 0), false);
    assert.equal(l.received, 2);
    assert.equal(l.duplicates, 1);
    assert.equal(l.pending, 2); // (1,5000) and (0,2)
    l.receipted(0, 2); // a second receipt changes nothing
    assert.equal(l.pending, 2);
    l.delivered(1, 5000);
    assert.equal(l.pending, 1);
  });

  it('a delivered message whose SEND failed is received, not pending', () => {
    const l = new Ledger();
    l.delivered(2, 7);
    assert.equal(l.pending, 0);
    assert.equal(l.received, 1);
  });
});

describe('report', () => {
  const result: BenchResult = {
    run: 'ab12', uri: 'stomp://127.0.0.1:61613', destination: '/queue/bench', producers: 1, consumers: 1, size: 1024,
    persistent: true, window: 64, rate: null, ack: 'client-individual', prefetch: 1000, count: 10000, durationS: null, warmupS: 0,
    sent: 10000, receipted: 10000, failedSends: 0, received: 10000, duplicates: 0, lost: 0, stale: 3, errors: [], interrupted: false,
    producer: throughput(10000, 1024, 2000), consumer: throughput(10000, 1024, 2500),
    latencyMs: {
      sendToReceipt: { count: 10000, p50: 1.5, p95: 3, p99: 4.25, max: 20, mean: 1.7 },
      sendToDelivery: { count: 10000, p50: 2, p95: 4, p99: 6, max: 30, mean: 2.2 },
    },
  };

  it('throughput in msg/s and MB/s (10^6 bytes)', () => {
    assert.deepEqual(throughput(10000, 1024, 2000), { elapsedS: 2, messages: 10000, msgPerSec: 5000, mbPerSec: 5.12 });
  });

  it('text report has throughput, percentiles and loss counts', () => {
    const text = benchText(result);
    assert.match(text, /^bench ab12: 1 producer\(s\), 1 consumer\(s\), 1024 B persistent, window 64, ack client-individual, 10,000 messages on \/queue\/bench/);
    assert.match(text, /\n {2}produced +10,000 receipted of 10,000 sent in 2 s: 5,000 msg\/s, 5\.12 MB\/s\n/);
    assert.match(text, /\n {2}consumed +10,000 in 2\.5 s: 4,000 msg\/s, 4\.10 MB\/s\n/);
    assert.match(text, /\n {2}send->receipt +p50 +1\.500 ms {2}p95 +3\.000 ms {2}p99 +4\.250 ms {2}max +20\.0 ms {2}\(10,000 samples\)\n/);
    assert.match(text, /\n {2}lost 0 {2}duplicates 0 {2}failed sends 0 {2}stale \(earlier runs\) 3\n$/);
  });

  it('no consumers: no consumer line, lost is -', () => {
    const text = benchText({ ...result, consumers: 0, consumer: null, lost: null, stale: 0 });
    assert.doesNotMatch(text, /consumed|send->delivery/);
    assert.match(text, /lost - {2}duplicates 0/);
  });

  it('progress line', () => {
    assert.equal(progressLine(2000, 1000, 990, 980, 1), 'bench 2.0s: sent 1,000  receipted 990 (495.0 msg/s)  received 980 (490.0 msg/s)');
    assert.equal(progressLine(2000, 1000, 990, 0, 0), 'bench 2.0s: sent 1,000  receipted 990 (495.0 msg/s)');
  });
});
