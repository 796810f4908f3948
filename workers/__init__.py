"""Everything that runs next to a device: runtime adapter, cycles, patterns, verification, simulator.

Never imports ``orchestrator``.
"""
