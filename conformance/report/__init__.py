"""Stage 6, what a run writes: the CSV, summary, junit, terminal lines and the HTML page
(`report.html`), all from the frame of records."""
