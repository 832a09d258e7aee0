"""A protocol engine that shakes hands and then never answers."""

import json
import time

print(json.dumps({"protocol": "backprop-conformance", "version": 1, "ops": ["add"]}), flush=True)
time.sleep(3600)
