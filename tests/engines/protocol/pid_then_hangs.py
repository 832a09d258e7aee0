"""A protocol engine that appends its pid to the file named by argv[1], shakes hands, and then
never answers. Started through `sh -c "...; true"`, it is the shell's child, not the worker's.
With argv[2] "tensors", it shakes hands as a tensor engine."""

import json
import os
import sys
import time

with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()}\n")
hello = {"protocol": "backprop-conformance", "version": 1, "ops": ["add"]}
if sys.argv[2:] == ["tensors"]:
    hello["tensors"] = True
print(json.dumps(hello), flush=True)
time.sleep(3600)
