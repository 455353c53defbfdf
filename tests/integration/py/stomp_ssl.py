"""A STOMP client we did not write (Debian's python3-stomp, stomp.py) over TLS (stomp+ssl).

usage: python3 stomp_ssl.py HOST PORT QUEUE CA_FILE [CERT_FILE KEY_FILE]

Verifies the gateway's certificate against CA_FILE (and presents CERT_FILE/KEY_FILE when
given), connects with STOMP 1.2, subscribes to QUEUE with ack:client-individual, sends two
messages with receipts, waits for both receipts and both messages, acks them, disconnects,
and prints one JSON line: {"received": [...], "receipts": [...], "errors": [...]}.
Exits 1 (with the JSON) when something did not arrive within the deadline. Speaks TLS 1.2
(see below why).
"""
import faulthandler
import json
import logging
import os
import ssl
import sys

import stomp

from stomp_common import Listener, wait_until as _wait_until

# stomp.py reads its socket in a receiver thread while the caller's thread writes to it. Under
# TLS 1.3 the server sends session tickets after the handshake, and one SSL object read and
# written from two threads at that moment breaks (seen here on 5-13% of connections: the CONNECT
# never answered, or the gateway reading 'wrong version number'). TLS 1.2 has no post-handshake
# messages: 60 of 60 connections. So this client stays at TLS 1.2 (the gateway's minimum).
_wrap_socket = ssl.SSLContext.wrap_socket


def _wrap_socket_tls12(self, *args, **kwargs):
    self.maximum_version = ssl.TLSVersion.TLSv1_2
    return _wrap_socket(self, *args, **kwargs)


ssl.SSLContext.wrap_socket = _wrap_socket_tls12

host, port, queue, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
cert, key = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else (None, None)
DEADLINE = 10.0
# A hang shows where it is (every thread's stack on stderr) instead of only a killed process.
faulthandler.dump_traceback_later(float(os.environ.get('STOMP_SSL_HANG_S', '25')), exit=True)
if os.environ.get('STOMP_SSL_DEBUG'):
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)


def wait_until(pred):
    return _wait_until(pred, DEADLINE)


listener = Listener()
conn = stomp.Connection12([(host, port)], heartbeats=(0, 0))
# stomp.py verifies the server certificate against ca_certs (and its host name) when given.
conn.set_ssl(for_hosts=[(host, port)], ca_certs=ca, cert_file=cert, key_file=key)
conn.set_listener('ssl', listener)
conn.connect(wait=True)
conn.subscribe(destination=queue, id='py-ssl-sub', ack='client-individual')
for i in (1, 2):
    conn.send(destination=queue, body='from-python-ssl-%d' % i, receipt='py-ssl-receipt-%d' % i)

ok = wait_until(lambda: len(listener.receipts) >= 2) and wait_until(lambda: len(listener.messages) >= 2)
for frame in list(listener.messages):
    conn.ack(frame.headers['ack'])
conn.disconnect()
print(json.dumps({
    'received': [m.body if isinstance(m.body, str) else m.body.decode('utf-8') for m in listener.messages],
    'receipts': sorted(listener.receipts),
    'errors': listener.errors,
}))
sys.exit(0 if ok else 1)
