"""Stage 5, what to do with a failure: shrinking, reproducers (JSON and a script), expected
failures, and replaying a reproducer."""
