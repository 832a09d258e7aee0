"""refimpl's Value behind a module that maps 64 MB as it is imported: loading it needs more
than a small address-space limit allows, whatever the memory already mapped (the limit test)."""

from refimpl import Value

BALLAST = bytearray(64 * 2**20)

__all__ = ["Value"]
