"""Activations of the hooked model captured by forward hooks and streamed into reductions,
memory or disk shards (:mod:`.caching`)."""
