"""Checks a Standard Webhooks signature with nothing but Python's standard library.

usage: verify_webhook.py SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP WEBHOOK_SIGNATURE < body
Exit status 0 when one of the signatures is the body's, 1 otherwise.
"""

import base64
import hashlib
import hmac
import sys

secret, msg_id, timestamp, header = sys.argv[1:5]
body = sys.stdin.buffer.read()
key = base64.b64decode(secret.removeprefix("whsec_"))
signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
given = [s.split(",", 1)[1] for s in header.split(" ") if s.startswith("v1,")]
sys.exit(0 if any(hmac.compare_digest(expected, g) for g in given) else 1)
