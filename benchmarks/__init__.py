"""Speed and memory of refimpl against micrograd and torch on the same graphs."""
