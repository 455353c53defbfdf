// The checker: reads a whole history (history.ts) and says what went wrong. Pure: events in,
// a report out; no clock, no I/O. What it reports and why each is a defect:
//
// - lost: a message the broker confirmed (RECEIPT of the SEND, or of the COMMIT of its
//   transaction) that never reached a subscription that existed when it was sent.
// - duplicatesAfterAck: a copy that reached a consumer of a subscription after that
//   subscription's ACK of it was confirmed by a RECEIPT (the broker had promised to forget it).
//   "Reached" is the copy's arrival at the client (`deliver.arrived`), not when the application
//   took it from the client's buffer (`t`): a copy already in a buffer when the ack was confirmed
//   was sent before it, and is counted apart, `copiesBufferedBeforeAck` (reported, not a
//   violation: docs/reliability.md D10). Histories without `arrived` use `t`.
// - unmarkedDuplicates: more than one copy of a message on a subscription without
//   `redelivered: true` (the application cannot tell it from a new message). Only the first
//   delivery may be unmarked, but which copy came first is not in the history: a consumer
//   writes `deliver` when its application takes the message, after its client's buffer (a
//   failover consumer stuck on an ACK takes the copies it got long before from its buffer
//   after the broker redelivered them, marked, to others). So the count, not the order: at
//   most one unmarked copy per message and subscription.
// - reordered: on a destination with one producer and one consumer at a time (`ordered`),
//   a first delivery whose producer sequence is below one already delivered.
// - halfTransactions: a transaction some but not all of whose messages were delivered;
//   abortedVisible: a transaction the broker refused (or the client never committed) of
//   which something was delivered; failedButDelivered: a SEND the broker refused with an
//   ERROR that was delivered anyway.
// - phantoms: deliveries of ids nobody sent.
// - MQTT (history.ts SubscribeEvent.delivery): on a QoS 2 subscription (exactly once) a second
//   copy is a violation, `qos2Duplicates`; on a QoS 1 one (at least once) copies are allowed and
//   counted in `qos1Copies` (with how many carried DUP), never `unmarkedDuplicates`: MQTT's DUP
//   marks a resent packet, not a message delivered before (mqtt.ts). The acknowledgement of an
//   MQTT publication is its PUBACK (QoS 1) or PUBCOMP (QoS 2): `send-result` ok, as a RECEIPT.
// - heal: per fault, the time from its start to the first RECEIPT of a SEND issued after it,
//   in each group it can interrupt (a conservative figure: a SEND issued before the fault and
//   receipted after it does not count, it may have been stored before).
import type { DeliverEvent, FaultEvent, HistoryEvent, Outcome, SendEvent, SubscribeEvent } from './history';

export interface Violation { id: string; sub?: string; consumer?: string; t?: number; detail?: string }

export interface Heal {
  cycle: number;
  kind: string;
  target: string;
  /** Worst group's heal time (ms); null: a group never served again before the run ended. */
  healMs: number | null;
  byGroup: Record<string, number | null>;
  /**
   * The longest time without a RECEIPT in a group it can interrupt, from its start until the
   * next fault (or the last receipt): an outage that begins late (sessions expiring seconds
   * after a ZooKeeper quorum loss) shows here and not in healMs.
   */
  maxGapMs: number;
  /** Time from its start to when it was taken back (its `end` event; zk-quorum: after the ensemble serves again). */
  restoredMs: number | null;
  /**
   * The longest time without a RECEIPT from when it was taken back until the next fault, the
   * stretch open at that moment counted from it: how long the group takes to serve again once
   * the fault allows it (a ZooKeeper quorum loss allows no service by design, so its maxGapMs
   * is mostly the outage itself). Any SEND's receipt counts. null: not taken back.
   */
  restoreGapMs: number | null;
}

export interface HealStats {
  n: number; unhealed: number; minMs: number; p50Ms: number; p90Ms: number; maxMs: number; over2s: number;
  /** The same figures for maxGapMs. */
  gapP50Ms: number; gapP90Ms: number; gapMaxMs: number; gapOver2s: number;
  /** The same figures for restoreGapMs (faults taken back only). */
  restoreGapP50Ms: number; restoreGapMaxMs: number; restoreGapOver2s: number;
}

export interface Report {
  counts: {
    sends: number; receipted: number; failed: number; unknown: number; unsettled: number;
    deliveries: number; duplicates: number; redelivered: number;
    /** MQTT QoS 1 copies (allowed), and how many of them had DUP set. */
    qos1Copies: number; qos1CopiesDup: number;
    acksOk: number; acksUnconfirmed: number;
    txns: Record<Outcome | 'unsettled', number>;
    faults: number;
  };
  lost: Violation[];
  duplicatesAfterAck: Violation[];
  /** Copies taken after the ack was confirmed that had reached the client before it (D10). */
  copiesBufferedBeforeAck: Violation[];
  unmarkedDuplicates: Violation[];
  /** A QoS 2 (exactly once) MQTT subscription got a message twice. */
  qos2Duplicates: Violation[];
  reordered: Violation[];
  halfTransactions: Violation[];
  abortedVisible: Violation[];
  failedButDelivered: Violation[];
  phantoms: Violation[];
  heal: Heal[];
  healByKind: Record<string, HealStats>;
  /**
   * No violation: nothing lost, no unmarked duplicate, no reordering, no half/aborted-visible
   * transaction, no refused SEND delivered, no phantom. duplicatesAfterAck is reported but does
   * not fail a run: a copy that comes again marked redelivered is at-least-once delivery the
   * application can see (it is the issue's "duplicates" figure, not one of its must-be-zero).
   */
  ok: boolean;
}

const REPORTED = ['lost', 'duplicatesAfterAck', 'copiesBufferedBeforeAck', 'unmarkedDuplicates', 'qos2Duplicates', 'reordered', 'halfTransactions', 'abortedVisible', 'failedButDelivered', 'phantoms'] as const;
const VIOLATIONS = ['lost', 'unmarkedDuplicates', 'qos2Duplicates', 'reordered', 'halfTransactions', 'abortedVisible', 'failedButDelivered', 'phantoms'] as const;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function healStats(heals: Heal[]): Record<string, HealStats> {
  const by = new Map<string, Heal[]>();
  for (const h of heals) by.set(h.kind, [...(by.get(h.kind) ?? []), h]);
  const out: Record<string, HealStats> = {};
  for (const [kind, hs] of [...by].sort(([a], [b]) => a.localeCompare(b))) {
    const ms = hs.map((h) => h.healMs).filter((x): x is number => x !== null).sort((a, b) => a - b);
    const gaps = hs.map((h) => h.maxGapMs).sort((a, b) => a - b);
    const restore = hs.map((h) => h.restoreGapMs).filter((x): x is number => x !== null).sort((a, b) => a - b);
    out[kind] = {
      n: hs.length, unhealed: hs.length - ms.length,
      minMs: ms[0] ?? 0, p50Ms: percentile(ms, 50), p90Ms: percentile(ms, 90), maxMs: ms[ms.length - 1] ?? 0,
      over2s: ms.filter((x) => x > 2000).length,
      gapP50Ms: percentile(gaps, 50), gapP90Ms: percentile(gaps, 90), gapMaxMs: gaps[gaps.length - 1] ?? 0, gapOver2s: gaps.filter((x) => x > 2000).length,
      restoreGapP50Ms: percentile(restore, 50), restoreGapMaxMs: restore[restore.length - 1] ?? 0, restoreGapOver2s: restore.filter((x) => x > 2000).length,
    };
  }
  return out;
}

export function check(events: readonly HistoryEvent[]): Report {
  const sends = new Map<string, SendEvent & { t: number }>();
  const sendOutcome = new Map<string, Outcome>();
  const txnOutcome = new Map<string, Outcome>();
  const txnMembers = new Map<string, string[]>();
  const subs = new Map<string, SubscribeEvent & { t: number }>(); // first subscribe per sub key
  const ordered = new Set<string>();
  const deliveries: Array<DeliverEvent & { t: number }> = [];
  const ackedAt = new Map<string, number>(); // `${sub}\0${id}` -> first confirmed ack time
  const faults: Array<FaultEvent & { t: number }> = [];
  const faultEnds = new Map<number, number>();
  const receipts: Array<{ t: number; sentAt: number; group: string }> = [];
  let acksOk = 0;
  let acksUnconfirmed = 0;

  for (const e of events) {
    switch (e.type) {
      case 'dest': if (e.ordered) ordered.add(e.dest); break;
      case 'subscribe': if (!subs.has(e.sub)) subs.set(e.sub, e); break;
      case 'send':
        sends.set(e.id, e);
        if (e.txn) txnMembers.set(e.txn, [...(txnMembers.get(e.txn) ?? []), e.id]);
        break;
      case 'send-result': {
        sendOutcome.set(e.id, e.outcome);
        const s = sends.get(e.id);
        if (e.outcome === 'ok' && s && !s.txn) receipts.push({ t: e.t, sentAt: s.t, group: s.group });
        break;
      }
      case 'txn': if (!txnMembers.has(e.txn)) txnMembers.set(e.txn, []); break;
      case 'txn-result': {
        txnOutcome.set(e.txn, e.outcome);
        const first = sends.get(txnMembers.get(e.txn)?.[0] ?? '');
        if (e.outcome === 'ok' && first) receipts.push({ t: e.t, sentAt: first.t, group: first.group });
        break;
      }
      case 'deliver': deliveries.push(e); break;
      case 'ack': {
        if (e.outcome === 'ok') {
          acksOk++;
          const k = `${e.sub}\0${e.id}`;
          if (!ackedAt.has(k)) ackedAt.set(k, e.t);
        } else if (e.outcome === 'unconfirmed') acksUnconfirmed++;
        break;
      }
      case 'fault': if (e.phase === 'start') faults.push(e); else faultEnds.set(e.cycle, e.t); break;
      default: break;
    }
  }

  const lost: Violation[] = [];
  const duplicatesAfterAck: Violation[] = [];
  const copiesBufferedBeforeAck: Violation[] = [];
  const unmarkedDuplicates: Violation[] = [];
  const qos2Duplicates: Violation[] = [];
  const reordered: Violation[] = [];
  const halfTransactions: Violation[] = [];
  const abortedVisible: Violation[] = [];
  const failedButDelivered: Violation[] = [];
  const phantoms: Violation[] = [];

  // Deliveries, in history order, per subscription.
  const seen = new Map<string, number>(); // `${sub}\0${id}` -> copies so far
  const unmarked = new Map<string, number>(); // `${sub}\0${id}` -> copies without the redelivered mark so far
  const deliveredIds = new Set<string>(); // ids delivered on any subscription
  const lastSeq = new Map<string, number>(); // `${sub}\0${producer}` -> highest first-delivery seq
  let duplicates = 0;
  let redelivered = 0;
  let qos1Copies = 0;
  let qos1CopiesDup = 0;
  for (const d of deliveries) {
    const s = sends.get(d.id);
    if (!s) { phantoms.push({ id: d.id, sub: d.sub, consumer: d.consumer, t: d.t }); continue; }
    deliveredIds.add(d.id);
    if (d.redelivered) redelivered++;
    const k = `${d.sub}\0${d.id}`;
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    const u = d.redelivered ? unmarked.get(k) ?? 0 : (unmarked.get(k) ?? 0) + 1;
    if (!d.redelivered) unmarked.set(k, u);
    if (n > 1) {
      duplicates++;
      const mode = subs.get(d.sub)?.delivery;
      if (mode === 'exactly-once') qos2Duplicates.push({ id: d.id, sub: d.sub, consumer: d.consumer, t: d.t, detail: `copy ${n}${d.redelivered ? ' (DUP)' : ''}` });
      else if (mode === 'at-least-once') { qos1Copies++; if (d.redelivered) qos1CopiesDup++; }
      else if (!d.redelivered && u > 1) unmarkedDuplicates.push({ id: d.id, sub: d.sub, consumer: d.consumer, t: d.t, detail: `copy ${n}, unmarked copy ${u}` });
    }
    const acked = ackedAt.get(k);
    if (acked !== undefined && acked < d.t) {
      const arrived = d.arrived ?? d.t;
      const mark = d.redelivered ? ' (marked redelivered)' : '';
      if (acked < arrived) duplicatesAfterAck.push({ id: d.id, sub: d.sub, consumer: d.consumer, t: d.t, detail: `ack confirmed at ${acked}, delivered again ${arrived - acked} ms later${mark}` });
      else copiesBufferedBeforeAck.push({ id: d.id, sub: d.sub, consumer: d.consumer, t: d.t, detail: `arrived ${acked - arrived} ms before the ack was confirmed at ${acked}, taken ${d.t - acked} ms after it${mark}` });
    }
    if (ordered.has(s.dest) && !d.redelivered && n === 1) {
      const ok = `${d.sub}\0${s.producer}`;
      const last = lastSeq.get(ok);
      if (last !== undefined && s.seq < last) reordered.push({ id: d.id, sub: d.sub, consumer: d.consumer, t: d.t, detail: `${s.producer} seq ${s.seq} delivered after seq ${last}` });
      if (last === undefined || s.seq > last) lastSeq.set(ok, s.seq);
    }
  }

  // Every confirmed message on every subscription of its destination that existed when it was sent.
  const subsByDest = new Map<string, Array<SubscribeEvent & { t: number }>>();
  for (const s of subs.values()) subsByDest.set(s.dest, [...(subsByDest.get(s.dest) ?? []), s]);
  let receipted = 0;
  let failed = 0;
  let unknown = 0;
  let unsettled = 0;
  for (const s of sends.values()) {
    const o = sendOutcome.get(s.id);
    if (o === 'ok') receipted++; else if (o === 'fail') failed++; else if (o === 'unknown') unknown++; else unsettled++;
    if (o === 'fail' && !s.txn && deliveredIds.has(s.id)) failedButDelivered.push({ id: s.id, detail: `${s.producer} on ${s.path}` });
    const confirmed = s.txn ? txnOutcome.get(s.txn) === 'ok' : o === 'ok';
    if (!confirmed) continue;
    for (const sub of subsByDest.get(s.dest) ?? []) {
      if (sub.t > s.t) continue;
      if (!seen.has(`${sub.sub}\0${s.id}`)) lost.push({ id: s.id, sub: sub.sub, t: s.t, detail: `${s.producer} seq ${s.seq} on ${s.path}${s.txn ? ` in ${s.txn}` : ''}` });
    }
  }

  // Transactions: all or nothing (on any subscription).
  const txns: Record<Outcome | 'unsettled', number> = { ok: 0, fail: 0, unknown: 0, unsettled: 0 };
  for (const [txn, ids] of txnMembers) {
    const o = txnOutcome.get(txn);
    txns[o ?? 'unsettled']++;
    const n = ids.filter((id) => deliveredIds.has(id)).length;
    if (n > 0 && n < ids.length) halfTransactions.push({ id: txn, detail: `${n} of ${ids.length} messages delivered (commit ${o ?? 'unsettled'})` });
    else if (n > 0 && o !== 'ok' && o !== 'unknown') abortedVisible.push({ id: txn, detail: `${n} of ${ids.length} messages delivered, commit ${o ?? 'never sent'}` });
  }

  // Heal times.
  receipts.sort((a, b) => a.t - b.t);
  const allGroups = [...new Set([...sends.values()].map((s) => s.group))];
  const heal: Heal[] = faults.map((f, i) => {
    const byGroup: Record<string, number | null> = {};
    let maxGapMs = 0;
    const until = faults[i + 1]?.t ?? Infinity;
    for (const g of f.groups.length ? f.groups : allGroups) {
      const r = receipts.find((x) => x.group === g && x.sentAt >= f.t);
      byGroup[g] = r ? r.t - f.t : null;
      let prev = f.t;
      for (const x of receipts) {
        if (x.group !== g || x.t < f.t) continue;
        if (x.t > until) break;
        maxGapMs = Math.max(maxGapMs, x.t - prev);
        prev = x.t;
      }
    }
    const vals = Object.values(byGroup);
    const end = faultEnds.get(f.cycle);
    let restoreGapMs: number | null = null;
    if (end !== undefined) {
      restoreGapMs = 0;
      for (const g of f.groups.length ? f.groups : allGroups) {
        let prev = end;
        for (const x of receipts) {
          if (x.group !== g || x.t < end) continue;
          if (x.t > until) break;
          restoreGapMs = Math.max(restoreGapMs, x.t - prev);
          prev = x.t;
        }
      }
    }
    return { cycle: f.cycle, kind: f.kind, target: f.target, byGroup, healMs: vals.includes(null) ? null : Math.max(0, ...(vals as number[])), maxGapMs, restoredMs: end === undefined ? null : end - f.t, restoreGapMs };
  });

  const report: Report = {
    counts: {
      sends: sends.size, receipted, failed, unknown, unsettled,
      deliveries: deliveries.length, duplicates, redelivered, qos1Copies, qos1CopiesDup, acksOk, acksUnconfirmed, txns, faults: faults.length,
    },
    lost, duplicatesAfterAck, copiesBufferedBeforeAck, unmarkedDuplicates, qos2Duplicates, reordered, halfTransactions, abortedVisible, failedButDelivered, phantoms,
    heal, healByKind: healStats(heal), ok: true,
  };
  report.ok = VIOLATIONS.every((k) => report[k].length === 0);
  return report;
}

/** A few lines a person reads first. */
export function summarize(r: Report, max = 5): string {
  const c = r.counts;
  const lines = [
    `${r.ok ? 'PASS' : 'FAIL'}: ${c.sends} sends (${c.receipted} receipted, ${c.failed} refused, ${c.unknown} unknown, ${c.unsettled} unsettled), `
      + `${c.deliveries} deliveries (${c.duplicates} copies again, ${c.redelivered} marked redelivered; MQTT QoS 1 copies ${c.qos1Copies}, ${c.qos1CopiesDup} with DUP), ${c.acksOk} acks confirmed, `
      + `transactions ${c.txns.ok} committed / ${c.txns.fail} rolled back / ${c.txns.unknown} unknown, ${c.faults} faults`,
  ];
  for (const k of REPORTED) {
    const v = r[k];
    lines.push(`  ${k}: ${v.length}${v.length ? ` — ${v.slice(0, max).map((x) => `${x.id}${x.sub ? ` @${x.sub}` : ''}${x.detail ? ` (${x.detail})` : ''}`).join('; ')}` : ''}`);
  }
  for (const [kind, s] of Object.entries(r.healByKind)) {
    lines.push(`  heal ${kind}: n=${s.n} p50 ${s.p50Ms} ms, p90 ${s.p90Ms} ms, max ${s.maxMs} ms, over 2 s ${s.over2s}, never ${s.unhealed}; longest gap p50 ${s.gapP50Ms} ms, max ${s.gapMaxMs} ms, over 2 s ${s.gapOver2s}; from restore p50 ${s.restoreGapP50Ms} ms, max ${s.restoreGapMaxMs} ms, over 2 s ${s.restoreGapOver2s}`);
  }
  return lines.join('\n');
}
