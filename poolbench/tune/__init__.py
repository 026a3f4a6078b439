"""`poolbench tune`: measured sizing advice.

`search` finds the smallest workers/buffer setting meeting a target and the knee, against an
injected measure function; `model` fits Little's law and the Universal Scalability Law to the
measured points; `advice` turns both into a recommendation rendered as markdown. The three
are pure; `measured` connects the search to the runner.
"""
