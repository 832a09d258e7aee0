"""A protocol engine that shakes hands, answers two requests well, then prints garbage."""

import json
import sys

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])
from tests.engines.functional import engine

print(json.dumps({"protocol": "backprop-conformance", "version": 1, "ops": ["add", "mul"]}))
sys.stdout.flush()
for n, line in enumerate(sys.stdin):
    request = json.loads(line)
    if n % 3 == 2:
        print("Traceback (most recent call last): oops, a debug print")
    else:
        print(json.dumps({"id": request["id"], **engine(request["spec"])}))
    sys.stdout.flush()
