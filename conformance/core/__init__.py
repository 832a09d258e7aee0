"""Stage 0, plain data: options, the op vocabulary, graph specs, cases, results, records, number
and text formatting. No torch here, and no import from any other stage."""
