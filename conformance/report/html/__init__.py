"""The HTML page: its sections, hand-drawn SVG charts and graph drawings."""
