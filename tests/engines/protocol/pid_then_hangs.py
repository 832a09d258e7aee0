"""A protocol engine that appends its pid to the file named by argv[1], shakes hands, and then
never answers. Started through `sh -c "...; true"`, it is the shell's child, not the worker's."""

import json
import os
import sys
import time

with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()}\n")
print(json.dumps({"protocol": "backprop-conformance", "version": 1, "ops": ["add"]}), flush=True)
time.sleep(3600)
