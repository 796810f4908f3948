"""Everything that runs in the controller: CLI, spec, launchers, collection, reports.

Never imports ``acl``.
"""
