"""A protocol engine that dies on every third request."""

import json
import os
import sys

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from tests.engines.functional import engine

print(json.dumps({"protocol": "backprop-conformance", "version": 1, "ops": ["add", "mul"]}))
sys.stdout.flush()
for n, line in enumerate(sys.stdin):
    request = json.loads(line)
    if n % 3 == 2:
        os._exit(3)
    print(json.dumps({"id": request["id"], **engine(request["spec"])}))
    sys.stdout.flush()
