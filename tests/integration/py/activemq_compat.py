"""What ActiveMQ 5.x users do over STOMP, with a client we did not write (Debian's python3-stomp).

usage: python3 activemq_compat.py SCENARIO HOST PORT PREFIX [ARGS...]

Scenarios (each prints one JSON line, exit 0; exit 1 with the JSON when something failed to
arrive within the deadline). PREFIX makes the scenario's destination names unique.
  request-reply     temp queue + reply-to: a requester and a service on two connections
  default-queue     a destination without /queue/ or /topic/ is a queue
  ack10             ack:client-individual on a STOMP 1.0 connection
  large N SIZE      N messages of SIZE bytes sent with receipts, consumed, checked (sha256)
  virtual-topic     VirtualTopic.Orders consumed through Consumer.A/B queues
  composite         one SEND to /queue/a,/queue/b,/topic/c
  composite-subscribe  one SUBSCRIBE to /queue/a,/queue/b,/topic/c: a consumer on each part
The same script runs against ActiveMQ 5.17 (hawser activemq start) to compare behaviours.
"""
import hashlib
import json
import sys
import time

import stomp

from stomp_common import Listener, wait_until as _wait_until

scenario, host, port, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
args = sys.argv[5:]
DEADLINE = 20.0


def wait_until(pred, deadline=DEADLINE):
    return _wait_until(pred, deadline)


def connect(version='1.2', name='c'):
    cls = {'1.0': stomp.Connection10, '1.1': stomp.Connection11, '1.2': stomp.Connection12}[version]
    kw = {} if version == '1.0' else {'heartbeats': (0, 0)}
    conn = cls([(host, port)], **kw)
    listener = Listener()
    conn.set_listener(name, listener)
    conn.connect(wait=True)
    return conn, listener


def body(frame):
    b = frame.body
    return b if isinstance(b, str) else b.decode('utf-8')


def receipted(conn, listener, n_before, fn, tag):
    """Runs fn(receipt) and waits for that receipt (or an ERROR)."""
    fn(tag)
    return wait_until(lambda: tag in listener.receipts or listener.errors)


def request_reply():
    service_q = '/queue/%s.service' % prefix
    requester, rl = connect(name='requester')
    service, sl = connect(name='service')
    requester.subscribe(destination='/temp-queue/replies', id='replies', ack='auto', receipt='r-sub')
    service.subscribe(destination=service_q, id='svc', ack='auto', receipt='s-sub')
    ok = wait_until(lambda: 'r-sub' in rl.receipts and 's-sub' in sl.receipts)
    requester.send(destination=service_q, body='what time is it', headers={'reply-to': '/temp-queue/replies', 'correlation-id': 'c1'})
    ok = ok and wait_until(lambda: len(sl.messages) >= 1)
    request = sl.messages[0] if sl.messages else None
    reply_to = request.headers.get('reply-to') if request else None
    if reply_to:
        service.send(destination=reply_to, body='noon', headers={'correlation-id': 'c1'}, receipt='reply-sent')
    ok = ok and wait_until(lambda: len(rl.messages) >= 1)
    reply = rl.messages[0] if rl.messages else None
    # Another connection may not consume the requester's temp queue.
    thief, tl = connect(name='thief')
    if reply_to:
        thief.subscribe(destination=reply_to, id='steal', ack='auto')
    wait_until(lambda: tl.errors, 5.0)
    stolen_error = tl.errors[0] if tl.errors else None
    # The requester leaves: its temp queue goes. A reply sent afterwards is dropped, not an error.
    requester.disconnect(receipt='bye')
    late, ll = connect(name='late')
    if reply_to:
        late.send(destination=reply_to, body='too late', receipt='late-sent')
    late_ok = wait_until(lambda: 'late-sent' in ll.receipts or ll.errors, 10.0)
    # A new connection's /temp-queue/replies is its own, empty queue.
    again, al = connect(name='again')
    again.subscribe(destination='/temp-queue/replies', id='replies', ack='auto', receipt='a-sub')
    wait_until(lambda: 'a-sub' in al.receipts)
    time.sleep(0.5)
    out = {
        'request_reply_to': reply_to,
        'request_destination': request.headers.get('destination') if request else None,
        'reply_body': body(reply) if reply else None,
        'reply_destination': reply.headers.get('destination') if reply else None,
        'reply_correlation': reply.headers.get('correlation-id') if reply else None,
        'stolen_error': stolen_error,
        'late_receipt': late_ok and not ll.errors,
        'late_errors': ll.errors,
        'again_got': [body(m) for m in al.messages],
        'errors': rl.errors + sl.errors + al.errors,
    }
    for c in (service, late, again):
        c.disconnect()
    return ok, out


def default_queue():
    name = '%s.plain' % prefix
    consumer, cl = connect(name='consumer')
    consumer.subscribe(destination=name, id='s', ack='client-individual', receipt='sub')
    ok = wait_until(lambda: 'sub' in cl.receipts)
    producer, pl = connect(name='producer')
    producer.send(destination=name, body='bare', receipt='p1')
    producer.send(destination='/queue/' + name, body='prefixed', receipt='p2')
    ok = ok and wait_until(lambda: len(cl.messages) >= 2 and len(pl.receipts) >= 2)
    for m in cl.messages:
        consumer.ack(m.headers['ack'])
    out = {
        'bodies': sorted(body(m) for m in cl.messages),
        'destinations': sorted(set(m.headers.get('destination') for m in cl.messages)),
        'errors': cl.errors + pl.errors,
    }
    consumer.disconnect()
    producer.disconnect()
    return ok, out


def ack10():
    q = '/queue/%s.ack10' % prefix
    producer, pl = connect(name='producer')
    for i in (1, 2, 3):
        producer.send(destination=q, body='m%d' % i, receipt='p%d' % i)
    ok = wait_until(lambda: len(pl.receipts) >= 3)
    c, l = connect('1.0', name='ten')
    c.subscribe(destination=q, ack='client-individual', receipt='sub')
    ok = ok and wait_until(lambda: len(l.messages) >= 3 or l.errors)
    # client-individual: acking m3 acks m3 alone (client mode would ack m1-m3).
    m3 = [m for m in l.messages if body(m) == 'm3']
    if m3:
        c.ack(m3[0].headers['message-id'], receipt='ack3')
        wait_until(lambda: 'ack3' in l.receipts or l.errors)
    first_errors = list(l.errors)
    c.disconnect()
    c2, l2 = connect('1.2', name='after')
    c2.subscribe(destination=q, id='s', ack='auto')
    wait_until(lambda: len(l2.messages) >= 2, 10.0)
    time.sleep(0.3)
    out = {
        'received': sorted(body(m) for m in l.messages),
        'again': sorted(body(m) for m in l2.messages),
        'redelivered': sorted(m.headers.get('redelivered', 'false') for m in l2.messages),
        'errors': first_errors + l2.errors + pl.errors,
    }
    c2.disconnect()
    producer.disconnect()
    return ok, out


def large():
    n, size = int(args[0]), int(args[1])
    q = '/queue/%s.large' % prefix
    consumer, cl = connect(name='consumer')
    consumer.subscribe(destination=q, id='s', ack='client-individual', receipt='sub', headers={'activemq.prefetchSize': '1'})
    ok = wait_until(lambda: 'sub' in cl.receipts)
    producer, pl = connect(name='producer')
    sent = []
    t0 = time.time()
    for i in range(n):
        text = (('%08d' % i) * (size // 8 + 1))[:size]
        sent.append(hashlib.sha256(text.encode()).hexdigest())
        producer.send(destination=q, body=text, receipt='p%d' % i, headers={'persistent': 'true'})
        # One in flight, as a request/response producer does: bounds the client's memory.
        if not wait_until(lambda: ('p%d' % i) in pl.receipts or pl.errors, 120.0):
            break
        if pl.errors:
            break
    send_s = time.time() - t0
    got = []
    deadline = time.time() + 180

    def take():
        with cl.lock:
            frames = cl.messages[:]
            cl.messages.clear()
        for m in frames:
            got.append((hashlib.sha256(m.body if isinstance(m.body, bytes) else m.body.encode()).hexdigest(), len(m.body)))
            consumer.ack(m.headers['ack'])
        return len(got) >= n or cl.errors

    while time.time() < deadline and not take():
        time.sleep(0.02)
    out = {
        'sent': len(pl.receipts), 'received': len(got), 'send_s': round(send_s, 2),
        'intact': [h for h, _ in got] == sent, 'sizes': sorted(set(s for _, s in got)),
        'errors': pl.errors + cl.errors,
    }
    consumer.disconnect()
    producer.disconnect()
    return ok and len(got) == n, out


def virtual_topic():
    topic = '/topic/VirtualTopic.%s.Orders' % prefix
    queue = lambda c: '/queue/Consumer.%s.VirtualTopic.%s.Orders' % (c, prefix)
    a1, la1 = connect(name='a1')
    a2, la2 = connect(name='a2')
    b1, lb1 = connect(name='b1')
    a1.subscribe(destination=queue('A'), id='s', ack='auto', receipt='sub')
    a2.subscribe(destination=queue('A'), id='s', ack='auto', receipt='sub')
    b1.subscribe(destination=queue('B'), id='s', ack='auto', receipt='sub')
    ok = wait_until(lambda: all('sub' in l.receipts for l in (la1, la2, lb1)))
    p, pl = connect(name='p')
    for i in range(6):
        p.send(destination=topic, body='o%d' % i, receipt='p%d' % i, headers={'persistent': 'true'})
    ok = ok and wait_until(lambda: len(la1.messages) + len(la2.messages) >= 6 and len(lb1.messages) >= 6)
    time.sleep(0.3)
    out = {
        'a': sorted(body(m) for m in la1.messages + la2.messages),
        'a_split': [len(la1.messages), len(la2.messages)],
        'b': sorted(body(m) for m in lb1.messages),
        'b_destination': lb1.messages[0].headers.get('destination') if lb1.messages else None,
        'errors': la1.errors + la2.errors + lb1.errors + pl.errors,
    }
    for c in (a1, a2, b1, p):
        c.disconnect()
    return ok, out


def composite():
    qa, qb, tc = '/queue/%s.ca' % prefix, '/queue/%s.cb' % prefix, '/topic/%s.cc' % prefix
    subs = {}
    for d in (qa, qb, tc):
        c, l = connect(name=d)
        c.subscribe(destination=d, id='s', ack='auto', receipt='sub')
        subs[d] = (c, l)
    ok = wait_until(lambda: all('sub' in l.receipts for _, l in subs.values()))
    p, pl = connect(name='p')
    p.send(destination='%s,%s,%s' % (qa, qb, tc), body='to all three', receipt='p1')
    ok = ok and wait_until(lambda: all(len(l.messages) >= 1 for _, l in subs.values()))
    time.sleep(0.3)
    out = {
        'got': {d: [body(m) for m in l.messages] for d, (_, l) in subs.items()},
        'destinations': {d: [m.headers.get('destination') for m in l.messages] for d, (_, l) in subs.items()},
        'receipt': 'p1' in pl.receipts,
        'errors': pl.errors + [e for _, l in subs.values() for e in l.errors],
    }
    for c, _ in subs.values():
        c.disconnect()
    p.disconnect()
    return ok, out


def composite_subscribe():
    qa, qb, tc = '/queue/%s.sa' % prefix, '/queue/%s.sb' % prefix, '/topic/%s.sc' % prefix
    c, l = connect(name='consumer')
    # ack:client, ActiveMQ's cumulative mode: one ACK covers what came before it on every part.
    c.subscribe(destination='%s,%s,%s' % (qa, qb, tc), id='cs', ack='client', receipt='sub')
    ok = wait_until(lambda: 'sub' in l.receipts or l.errors)
    p, pl = connect(name='p')
    p.send(destination=qa, body='a1', receipt='p1', headers={'persistent': 'true'})
    p.send(destination=qb, body='b1', receipt='p2', headers={'persistent': 'true'})
    p.send(destination=tc, body='t1', receipt='p3')
    p.send(destination='%s,%s' % (qa, qb), body='ab', receipt='p4', headers={'persistent': 'true'})
    ok = ok and wait_until(lambda: len(l.messages) >= 5 or l.errors)
    time.sleep(0.3)
    first = list(l.messages)
    if first:
        c.ack(first[-1].headers['ack'], receipt='acked')
        ok = ok and wait_until(lambda: 'acked' in l.receipts or l.errors)
    c.unsubscribe(id='cs', receipt='unsub')
    ok = ok and wait_until(lambda: 'unsub' in l.receipts or l.errors)
    p.send(destination=qa, body='after', receipt='p5', headers={'persistent': 'true'})
    ok = ok and wait_until(lambda: 'p5' in pl.receipts or pl.errors)
    time.sleep(0.3)
    after_unsubscribe = [body(m) for m in l.messages[len(first):]]
    c.disconnect()
    # What the queues still hold: the acked messages are gone (every part's), 'after' waits.
    k, kl = connect(name='check')
    k.subscribe(destination=qa, id='qa', ack='auto')
    k.subscribe(destination=qb, id='qb', ack='auto')
    ok = ok and wait_until(lambda: len(kl.messages) >= 1)
    time.sleep(0.5)
    out = {
        'got': sorted(body(m) for m in first),
        'subscriptions': sorted(set(m.headers.get('subscription') for m in first)),
        'destinations': sorted(set(m.headers.get('destination') for m in first)),
        'after_unsubscribe': after_unsubscribe,
        'left': sorted(body(m) for m in kl.messages),
        'names': [qa, qb, tc],
        'errors': l.errors + pl.errors + kl.errors,
    }
    k.disconnect()
    p.disconnect()
    return ok, out


SCENARIOS = {
    'request-reply': request_reply, 'default-queue': default_queue, 'ack10': ack10,
    'large': large, 'virtual-topic': virtual_topic, 'composite': composite,
    'composite-subscribe': composite_subscribe,
}
ok, out = SCENARIOS[scenario]()
print(json.dumps(out))
sys.exit(0 if ok else 1)
