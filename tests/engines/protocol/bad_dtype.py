"""A protocol engine whose handshake declares a dtype the suite does not know."""

import json
import sys

print(json.dumps({"protocol": "backprop-conformance", "version": 1, "ops": ["add"],
                  "dtype": "float8"}), flush=True)  # fmt: skip
for _line in sys.stdin:
    pass
