"""Stage 8, the command line: one module per command."""
