"""Stage 4, one case to records: the checker of each kind of case (graphs, edges, semantics,
neurons, training, the sign-and-update rules), the comparison and the diagnosis."""
