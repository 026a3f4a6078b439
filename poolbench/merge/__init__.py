"""Merging what many machines measured into one result: shard manifests (`manifest`),
reading shard directories (`inputs`) and the exact, pure merge (`core`)."""
