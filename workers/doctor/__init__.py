"""``python -m workers.doctor``: what the runtime on this machine really does, against what dvpp-fleet
assumes, as one JSON object for ``dvpp-fleet doctor`` (``orchestrator/commands/doctor.py``).

    python -m workers.doctor --backend auto|acl|sim [--sim-config JSON] [--tolerance BYTES] [--devices 0,1]

Each check is a ``records.Check``: ``name``, ``device`` (the physical id, ``None`` for the machine),
``status`` (``PASS``, ``WARN`` or ``FAIL``), ``seen`` and ``assumed``, in words. The worker decides
nothing but these statuses: what they add up to is the controller's call. Modules:

- ``records``: the check record, the statuses, the JSON shape and the progress lines on stderr;
- ``machine``: where ``acl`` came from, ``acl.init``, visibility, run mode, ``acl.util``, ``acl.finalize``;
- ``device``: one device from open to close: memory attributes, jitter, warm-up, a 64 MiB DVPP block,
  alignment, and the error codes the worker relies on; every allocation is freed and the device
  reset whatever failed;
- ``session``: one process's run: init, the machine checks, each device, finalize (always).
"""
