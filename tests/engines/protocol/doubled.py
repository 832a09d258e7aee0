"""A protocol engine whose every gradient is twice torch's: a wrong answer, not a broken process."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.engines.functional import engine

print(json.dumps({"protocol": "backprop-conformance", "version": 1, "ops": ["add", "mul", "exp"]}))
sys.stdout.flush()
for line in sys.stdin:
    request = json.loads(line)
    reply = engine(request["spec"])
    reply["grads"] = [2 * g for g in reply["grads"]]
    print(json.dumps({"id": request["id"], **reply}))
    sys.stdout.flush()
