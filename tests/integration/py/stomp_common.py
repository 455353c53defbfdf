"""What the python3-stomp scripts of the integration suite share: a listener that records what
the server sent, and polling with a deadline (never a bare sleep)."""
import threading
import time

import stomp


class Listener(stomp.ConnectionListener):
    """Records MESSAGE frames, RECEIPT ids and ERROR messages (thread-safe: stomp.py calls it
    from its receiver thread)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []
        self.receipts = []
        self.errors = []

    def on_message(self, frame):
        with self.lock:
            self.messages.append(frame)

    def on_receipt(self, frame):
        with self.lock:
            self.receipts.append(frame.headers.get('receipt-id'))

    def on_error(self, frame):
        with self.lock:
            self.errors.append(frame.headers.get('message', frame.body))


def wait_until(pred, deadline):
    """True as soon as pred() is, False when `deadline` seconds pass first."""
    end = time.time() + deadline
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False
