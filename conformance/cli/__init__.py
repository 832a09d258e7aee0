"""Stage 8, the command line: `main` parses and dispatches; one module per command (run, replay,
check, grade, merge), with the option types in `args` and the signal handling in `signals`."""
