"""The hardware layer, below the IR: what a chip is, independent of any network or backend.

    profile.py      the profile schema and loader (hw_profiles/*.yaml): the only source of hardware numbers
    fixed_point.py  the integer formats and Lava's fixed-point arithmetic of synapses and neurons
    topology.py     where cores and chips sit (mesh tiles, chip grid)

The IR and its passes import this layer; it imports nothing of neurodeploy but ``errors``.
"""
