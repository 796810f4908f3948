"""The doctor's memory checks of one open device: ``get_mem_info`` arithmetic and pools, idle
jitter, the warm-up drop, a 64 MiB DVPP block given back, and the alignment of allocations.

Memory figures are snapshots of attributes 0..5 (DDR, HBM, then each pool's huge and normal pages);
what a check compares is every attribute the device has (total > 0), the worst one counting, as
the worker's leak check does. Where free memory jitters at idle, a difference within the
tolerance plus that jitter cannot be told from noise: a WARN, not a FAIL. Every allocation is made
inside ``Allocations``, freed on the way out whatever failed.
"""

from __future__ import annotations

import statistics
import time
from typing import Dict, List, Optional, Tuple

from workers import acl_codes as codes
from workers.doctor.records import FAIL, MIB, PASS, WARN
from workers.figures import amount
from workers.runtime import AclError, Allocations, Runtime

ATTRS = {0: "DDR", 1: "HBM", 2: "DDR huge", 3: "DDR normal", 4: "HBM huge", 5: "HBM normal"}
"""The ``get_mem_info`` attributes sampled, in words."""
POOLS = {"DDR": (0, 2, 3), "HBM": (1, 4, 5)}
"""Each pool's attributes: the whole, its huge pages, its normal pages."""
BLOCK = 64 * MIB
"""The DVPP block of the warm-up and of the allocate/free check."""
SAMPLES = 8
SAMPLE_GAP = 0.01
"""Idle samples for the jitter, seconds apart; a settled figure is the median of ``SAMPLES`` more."""
WARM_UP_MAX = 256 * MIB
"""The most the runtime's first use may take before it WARNs (100-200 MB is documented)."""
ALIGN_SIZES = (1, 33, 4097, MIB + 7)
DVPP_ALIGN, HOST_ALIGN = 128, 64
Snapshot = Dict[int, Tuple[int, int]]
"""attribute -> (free, total) bytes."""


class DeviceProbe:
    """The memory checks of one open device (``physical``); each check method returns ``(status,
    seen)`` and leaves what later checks need (jitter, baseline, addresses) on ``self``."""

    def __init__(self, rt: Runtime, physical: int, tolerance: int, run_mode: Optional[str]) -> None:
        self.rt, self.physical, self.tolerance, self.run_mode = rt, physical, tolerance, run_mode
        self.unsupported: Dict[int, str] = {}
        self.opened: Snapshot = {}
        self.idle: Optional[Snapshot] = None
        self.baseline: Optional[Snapshot] = None
        self.spread = 0
        self.dvpp: List[Tuple[int, int]] = []  # (size, address) of every DVPP block, for the alignment
        self.hosts: List[Tuple[int, int]] = []

    # --- figures ------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Every attribute; the huge/normal ones an older runtime refuses are left out (noted)."""
        snap: Snapshot = {}
        for attr in ATTRS:
            try:
                free, total = self.rt.call("acl.rt.get_mem_info", attr)
            except AclError as exc:
                if attr in (codes.ACL_DDR_MEM, codes.ACL_HBM_MEM):
                    raise
                self.unsupported[attr] = f"{exc.code} {exc.name}"
                continue
            snap[attr] = (int(free), int(total))
        return snap

    def settled(self, count: int = SAMPLES) -> Snapshot:
        """The median of ``count`` snapshots: one figure that jitter moves less."""
        samples = [self.snapshot() for _ in range(count)]
        return {a: (int(statistics.median_low(s[a][0] for s in samples)), samples[0][a][1]) for a in samples[0]}

    @property
    def main(self) -> int:
        """The attribute of the pool DVPP memory comes from (HBM where the chip reports one)."""
        return codes.ACL_HBM_MEM if self.opened.get(codes.ACL_HBM_MEM, (0, 0))[1] else codes.ACL_DDR_MEM

    def watched(self, snap: Snapshot) -> List[int]:
        return [a for a, (_, total) in snap.items() if total]

    def lost(self, before: Snapshot, after: Snapshot) -> Tuple[int, int]:
        """``(attribute, bytes)``: the most free memory went down by between two snapshots."""
        drops = [(a, before[a][0] - after[a][0]) for a in self.watched(before) if a in after]
        return max(drops, key=lambda d: d[1], default=(self.main, 0))

    @property
    def allow(self) -> int:
        """How far two settled figures may differ before it is more than jitter: the tolerance plus
        twice the idle spread (two medians, each off by up to the spread, the worst attribute taken)."""
        return self.tolerance + 2 * self.spread

    def margin(self) -> str:
        return f"tolerance {amount(self.tolerance)}, idle jitter {amount(self.spread)}"

    # --- memory -------------------------------------------------------------------------------
    def memory_arithmetic(self) -> Tuple[str, str]:
        self.opened = snap = self.snapshot()
        parts, status = [], PASS
        for pool, (whole, huge, normal) in POOLS.items():
            if huge not in snap or normal not in snap:
                refused = ", ".join(f"{a} ({self.unsupported.get(a)})" for a in (huge, normal) if a not in snap)
                parts.append(f"{pool}: attribute {refused} refused, the split cannot be checked")
                status = FAIL if status == FAIL else WARN
                continue
            h, n, t = snap[huge][1], snap[normal][1], snap[whole][1]
            ok = h + n == t
            status = status if ok else FAIL
            if ok and not t:
                parts.append(f"{pool} none (0 B)")
                continue
            parts.append(f"{pool} {amount(h)} huge + {amount(n)} normal {'=' if ok else '!='} {amount(t)}")
        return status, "; ".join(parts)

    def memory_pools(self) -> Tuple[str, str]:
        chip = self.rt.soc_name()
        self.opened = self.opened or self.snapshot()
        ddr, hbm = self.opened[codes.ACL_DDR_MEM][1], self.opened[codes.ACL_HBM_MEM][1]
        layout = layout_of(ddr, hbm)
        seen = f"{chip or 'chip unknown'}: HBM {amount(hbm)}, DDR {amount(ddr)} ({layout})"
        expected = expected_layout(chip)
        if layout == "no memory":
            return FAIL, seen + ": no figure to measure a leak against"
        if expected is None:
            return WARN, seen + ": no expectation for this chip"
        if layout != expected:
            return WARN, f"{seen}, not {expected}"
        return PASS, seen

    def free_jitter(self) -> Tuple[str, str]:
        start = time.monotonic()
        samples = []
        for i in range(SAMPLES):
            if i:
                time.sleep(SAMPLE_GAP)
            samples.append(self.snapshot())
        took = time.monotonic() - start
        self.idle = {a: (int(statistics.median_low(s[a][0] for s in samples)), samples[0][a][1]) for a in samples[0]}
        spreads = [(max(s[a][0] for s in samples) - min(s[a][0] for s in samples), a) for a in self.watched(samples[0])]
        self.spread, attr = max(spreads, default=(0, self.main))
        seen = f"{SAMPLES} idle samples over {took:.2f} s: free moved by {amount(self.spread)} ({ATTRS[attr]})"
        if self.spread > self.tolerance:
            return WARN, f"{seen}, more than the tolerance {amount(self.tolerance)}: a leak check can be noise"
        return PASS, seen

    def warm_up_drop(self) -> Tuple[str, str]:
        before = self.idle or self.settled()
        with Allocations(self.rt, "dvpp") as mem:
            host, device = mem.host(BLOCK), mem.device(BLOCK)
            self.hosts.append((BLOCK, host))
            self.dvpp.append((BLOCK, device))
            self.rt.memcpy_d2h(host, device, BLOCK)
        self.baseline = after = self.settled()
        drop = before[self.main][0] - after[self.main][0]
        seen = (
            f"free {ATTRS[self.main]} {amount(before[self.main][0])} at open, {amount(after[self.main][0])} "
            f"after one {amount(BLOCK)} DVPP allocate / D2H copy / free: first use took {amount(drop)}"
        )
        if drop > WARM_UP_MAX + self.allow:
            return WARN, f"{seen}, more than the documented 100-200 MB"
        if drop < -self.allow:
            return WARN, f"{seen}: free memory rose ({self.margin()})"
        return PASS, seen

    def dvpp_alloc_free(self) -> Tuple[str, str]:
        base = self.baseline or self.settled()
        with Allocations(self.rt, "dvpp") as mem:
            self.dvpp.append((BLOCK, mem.device(BLOCK)))
            during = self.settled()
        after = self.settled()
        taken = base[self.main][0] - during[self.main][0]
        attr, leak = self.lost(base, after)
        seen = (
            f"the {amount(BLOCK)} block took {amount(taken)} of {ATTRS[self.main]}; after its free, free "
            f"{ATTRS[attr]} is {amount(leak)} below the post-warm-up baseline ({self.margin()})"
        )
        if leak > self.allow:
            return FAIL, seen
        if leak > self.tolerance:
            return WARN, f"{seen}: within the idle jitter, a leak cannot be told from noise"
        if leak < -self.allow:
            return WARN, f"{seen}: free memory rose, the baseline is not steady"
        if taken < BLOCK - self.allow and self.spread < BLOCK // 2:  # (more jitter: free_jitter says so)
            return WARN, f"{seen}: get_mem_info did not show the block held, so it cannot show a leak"
        return PASS, seen

    # --- alignment ----------------------------------------------------------------------------
    def dvpp_alignment(self) -> Tuple[str, str]:
        with Allocations(self.rt, "dvpp") as mem:
            self.dvpp += [(size, mem.device(size)) for size in ALIGN_SIZES]
        return aligned(self.dvpp, DVPP_ALIGN, FAIL)

    def host_alignment(self) -> Tuple[str, str]:
        with Allocations(self.rt, "dvpp") as mem:
            self.hosts += [(size, mem.host(size)) for size in ALIGN_SIZES]
        rc = self.run_mode == "rc"
        status, seen = aligned(self.hosts, HOST_ALIGN, WARN if rc else FAIL)
        if rc and status != PASS:
            seen += " (RC mode: malloc_host gives device memory, no alignment documented)"
        return status, seen


def layout_of(ddr: int, hbm: int) -> str:
    if hbm and ddr:
        return "HBM reported as DDR" if hbm == ddr else "DDR and HBM"
    return "HBM" if hbm else "DDR" if ddr else "no memory"


CHIP_LAYOUTS = (
    ("Ascend910", "HBM"),
    ("Ascend310P", "HBM reported as DDR"),
    ("Ascend310B", "HBM reported as DDR"),
    ("Ascend310", "DDR"),
)
"""What ``get_mem_info`` reports per chip (first matching prefix of the SoC name): 910/910B have HBM
and answer the DDR attributes with (0, 0); 310P and the Atlas 200I/500 A2 parts (310B) answer the
HBM attributes with their DDR figures; 310 has DDR only, HBM (0, 0)."""


def expected_layout(chip: Optional[str]) -> Optional[str]:
    return next((layout for prefix, layout in CHIP_LAYOUTS if chip and chip.startswith(prefix)), None)


def aligned(blocks: List[Tuple[int, int]], need: int, on_bad: str) -> Tuple[str, str]:
    sizes = [s for s, _ in blocks]
    span = f"{len(blocks)} blocks of {amount(min(sizes))} to {amount(max(sizes))}"
    bad = [hex(p) for _, p in blocks if p % need]
    if bad:
        return on_bad, f"{span}: {len(bad)} not {need}-byte aligned ({', '.join(bad[:4])})"
    least = min(p & -p for _, p in blocks)
    return PASS, f"{span}: every start {need}-byte aligned (the least aligned on {least} bytes)"
