"""A STOMP client we did not write (Debian's python3-stomp, stomp.py) against the gateway.

usage: python3 stomp_roundtrip.py HOST PORT QUEUE EXPECTED_EXISTING

Connects with STOMP 1.2, subscribes to QUEUE with ack:client-individual, sends two messages
with receipts, waits for the receipts and for EXPECTED_EXISTING + 2 messages, acks each,
disconnects, and prints one JSON line: {"received": [...], "receipts": [...], "errors": [...]}.
Exits 1 (with the JSON) when something did not arrive within the deadline.
"""
import json
import sys

import stomp

from stomp_common import Listener, wait_until as _wait_until

host, port, queue, existing = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
DEADLINE = 10.0


def wait_until(pred):
    return _wait_until(pred, DEADLINE)


listener = Listener()
conn = stomp.Connection12([(host, port)], heartbeats=(0, 0))
conn.set_listener('roundtrip', listener)
conn.connect(wait=True)
conn.subscribe(destination=queue, id='py-sub', ack='client-individual')
for i in (1, 2):
    conn.send(destination=queue, body='from-python-%d' % i, receipt='py-receipt-%d' % i)

ok = wait_until(lambda: len(listener.receipts) >= 2) and wait_until(lambda: len(listener.messages) >= existing + 2)
for frame in list(listener.messages):
    # STOMP 1.2: ACK carries the MESSAGE's `ack` header as its id.
    conn.ack(frame.headers['ack'])
conn.disconnect()
print(json.dumps({
    'received': [m.body if isinstance(m.body, str) else m.body.decode('utf-8') for m in listener.messages],
    'redelivered': [m.headers.get('redelivered') for m in listener.messages],
    'receipts': sorted(listener.receipts),
    'errors': listener.errors,
}))
sys.exit(0 if ok else 1)
