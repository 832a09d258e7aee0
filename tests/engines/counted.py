"""A correct engine that counts its imports: each appends a line to the file named in
$CONFORMANCE_IMPORT_LOG, so a test can see how often a run loads an engine with a costly import."""

from __future__ import annotations

import os

from tests.engines.alt import Value

__all__ = ["Value"]

if os.environ.get("CONFORMANCE_IMPORT_LOG"):
    with open(os.environ["CONFORMANCE_IMPORT_LOG"], "a") as log:
        log.write(f"{os.getpid()}\n")
