"""Stage 3, what is right: torch.autograd in float64, finite differences, torch.nn's idiomatic
twin of the neuron cases, and the error bounds that say how close is close enough."""
