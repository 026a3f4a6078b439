"""`poolbench compare`: two consumers (git refs or folders) on one scenario, interleaved:
the spec of a side (`spec`), its install (`install`), the run order (`order`), the
session (`session`) and the pure verdicts (`verdict`)."""
