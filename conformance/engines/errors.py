"""The error an engine raises when it cannot be loaded at all."""

__all__ = ["EngineLoadError"]


class EngineLoadError(Exception):
    """The engine cannot be loaded; the message says why and what to do."""
