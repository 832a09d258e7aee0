"""A protocol engine that speaks a version the suite does not."""

import json

print(json.dumps({"protocol": "backprop-conformance", "version": 99, "ops": []}), flush=True)
