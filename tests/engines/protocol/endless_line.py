"""A protocol engine that answers every request with a line that never ends."""

import json
import sys

print(json.dumps({"protocol": "backprop-conformance", "version": 1, "ops": ["add"]}), flush=True)
sys.stdin.readline()
chunk = b"x" * 2**20
while True:
    sys.stdout.buffer.write(chunk)
