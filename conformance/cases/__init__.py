"""Stage 1, what to check: one module per suite (random graphs, the lecture's examples, edges,
semantics, neurons and networks, training), the `check` expression parser and the hypothesis
strategies. Imports from `core` only."""
