"""`poolbench run`: start the parts for each point of a scenario, measure, stop them.

`measure` holds the pure arithmetic over receipts and samples, `processes` the child
process handling, `sampler` the memory/CPU/metrics sampling thread, `point` one measured
point, `sweep` a whole scenario.
"""
