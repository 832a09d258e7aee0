"""A package whose engine module imports its siblings, loaded by file path without PYTHONPATH.

The folder above, pkg_engine, has no `__init__.py` on purpose: it is this package's root.
"""
