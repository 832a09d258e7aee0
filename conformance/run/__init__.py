"""Stage 7, the run itself: the pipeline from options to outcome, parallel checking, shards and
`merge`, and `grade` (many engines, one table)."""
