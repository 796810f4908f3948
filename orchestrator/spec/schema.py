"""The fleet spec: its schema, every default, and errors that name the key path and the value.

The schema is declarative (pydantic models, strict types, unknown keys forbidden): each key is
declared once with its check and its default, and validation reports every problem at once, each
located by a path such as ``hosts[0].overrides.3.memory_size``. The worker parameters are one table,
``WORKER_KEYS``, from which both ``defaults:`` and the per-device ``overrides:`` are built.
This module does no I/O beyond ``yaml_io``; ``plan.resolve`` turns a spec into device jobs.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Dict, List, Literal, Optional, Tuple, Type, Union

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, create_model

from orchestrator.errors import SpecError
from orchestrator.launch.registry import LAUNCHER_NAMES
from orchestrator.spec import messages, units
from orchestrator.spec.fields import (
    DeviceId,
    DeviceSelection,
    Duration,
    Gbps,
    LoopCount,
    Pattern,
    Position,
    PositiveDuration,
    Section,
    Size,
    SizeOrZero,
    Sizes,
    one_of,
    signal_name,
)
from orchestrator.spec.yaml_io import load_yaml
from workers.job import BACKENDS
from workers.params import COPY_MODES, HOST_MEMORIES, MEMORY_KINDS, PATTERNS, PIPELINES, WorkerParams, conflicts
from workers.simulator import catalog


def _concurrency(value: object) -> Union[str, int]:
    """``all`` devices at once, ``serial`` (one at a time) or at most N at a time."""
    if value in ("all", "serial"):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= catalog.MAX_DEVICES:
        return value
    raise ValueError(f"must be all, serial or a number of devices from 1 to {catalog.MAX_DEVICES}")


def _version(value: object) -> object:
    """Only an integer is a version: ``true`` and ``1.0`` equal 1 to Python, not to whoever wrote them."""
    if isinstance(value, (bool, float)):
        raise ValueError("must be 1")
    return value


ALL_HOSTS = "all"
"""The host name that stands for every node of a Ray cluster (with the local launcher: this machine)."""


def _every_host(value: object) -> object:
    """``hosts: all`` is short for ``[{name: all}]``."""
    return [{"name": ALL_HOSTS}] if value == ALL_HOSTS else value


def _ray_address(value: str) -> str:
    if value in ("auto", "local") or re.fullmatch(r"ray://\S+|[\w.\-]+:\d{1,5}", value):
        return value
    raise ValueError('must be auto, local, "host:port" or "ray://host:port"')


WORKER_CHECKS: Dict[str, Any] = {
    "memory_size": Sizes,
    "release_cycle": LoopCount,
    "number_of_cycles": LoopCount,
    "memory_reuse": bool,
    "memory_kind": Annotated[str, BeforeValidator(one_of(MEMORY_KINDS))],
    "patterns": Annotated[List[Pattern], Field(min_length=1)],
    "verify": bool,
    "interval": Duration,
    "duration": Optional[PositiveDuration],
    "seed": Annotated[int, Field(ge=0, le=2**64 - 1)],
    "open_retries": Annotated[int, Field(ge=0, le=10)],
    "open_retry_delay": Duration,
    "host_memory": Annotated[str, BeforeValidator(one_of(HOST_MEMORIES))],
    "copy_mode": Annotated[str, BeforeValidator(one_of(COPY_MODES))],
    "bidirectional": bool,
    "warmup": Annotated[int, Field(ge=0, le=1000)],
    "pipeline": Annotated[str, BeforeValidator(one_of(PIPELINES))],
}
"""The check of every worker parameter a spec may set (``WorkerParams`` but the device id, the
sweep, which comes from ``memory_size``, and ``wait_busy``, which comes from ``run --wait-busy``)."""
FLEET_DEFAULTS: Dict[str, Any] = {"release_cycle": 10, "memory_reuse": True, "patterns": list(PATTERNS), "warmup": 1}
"""Where a fleet's default differs from the seed sample's (the defaults of ``WorkerParams``, which
the seed-compatible command keeps): cycles that release and reuse their memory, every pattern,
and one warm-up copy per size."""
WORKER_KEYS: Dict[str, Tuple[Any, Any]] = {
    key: (check, FLEET_DEFAULTS.get(key, getattr(WorkerParams(), key))) for key, check in WORKER_CHECKS.items()
}
"""The worker parameters: key -> (check, default). ``defaults:`` takes these defaults; an
override starts from nothing and keeps only the keys it sets (``model_fields_set``)."""
assert set(WORKER_KEYS) | {"device_id", "sizes", "wait_busy"} == set(WorkerParams.__dataclass_fields__), (
    "spec keys follow WorkerParams"
)

Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
DEVICE_THRESHOLDS: Dict[str, Any] = {
    "min_h2d_gbps": Gbps,
    "min_d2h_gbps": Gbps,
    "min_h2d_fraction": Fraction,
    "min_d2h_fraction": Fraction,
    "max_leak": SizeOrZero,
}
"""The thresholds that may differ per chip (``thresholds.chips``) and per device (``overrides``, beside
the worker keys): key -> check. A ``*_fraction`` floor is that share of the chip's reference rate
(``results/reference.py``)."""

FLOOR_KEYS = tuple(key for key in DEVICE_THRESHOLDS if key.startswith("min_"))
"""The bandwidth floors: a rate, or a share of the chip's reference rate (null: no such floor)."""


def _nullable(key: str, check: Any) -> Any:
    """A device's own threshold: a floor may be null (none for this device); ``max_leak`` may not."""
    return Optional[check] if key in FLOOR_KEYS else check


if TYPE_CHECKING:  # built from the key tables at run time; to a type checker, sections like the others

    class Defaults(Section): ...

    class Override(Section): ...

    class ChipThresholds(Section): ...
else:
    Defaults: Type[Section] = create_model(
        "Defaults", __base__=Section, **{key: (check, default) for key, (check, default) in WORKER_KEYS.items()}
    )
    Override: Type[Section] = create_model(
        "Override",
        __base__=Section,
        **{key: (check, None) for key, (check, _) in WORKER_KEYS.items()},
        **{key: (_nullable(key, check), None) for key, check in DEVICE_THRESHOLDS.items()},
    )
    ChipThresholds: Type[Section] = create_model(
        "ChipThresholds", __base__=Section, **{key: (Optional[check], None) for key, check in DEVICE_THRESHOLDS.items()}
    )


with warnings.catch_warnings():  # the spec's key is ``copy``, which BaseModel.copy() predates
    warnings.simplefilter("ignore", UserWarning)

    class Timeouts(Section):
        init: PositiveDuration = 60.0
        copy: PositiveDuration = 30.0  # type: ignore[assignment]  # shadows the deprecated BaseModel.copy()


MAX_LEAK = 512 * 1024
"""Default ``max_leak``: free memory a cycle may fail to give back. The worker takes its baseline
after a warm-up (so the runtime's one-time caches, 100-200 MB on real parts, are no leak); what is
left to tolerate is sampling noise of an idle device, under a typical DVPP block (1 MiB and more),
so such a block never given back fails in one cycle. A leak that grows by 64 KiB or more every
cycle fails as a trend below it; a smaller one adds up past it in a long run."""


ChipName = Annotated[str, Field(min_length=1)]


class Thresholds(Section):
    """What a device must reach. ``chips`` holds, by chip name, the thresholds of that chip's devices
    where they differ (the longest name that starts the chip's wins: ``Ascend910B`` covers
    ``Ascend910B3``); a device's own in ``overrides`` win over both (``for_device``)."""

    min_h2d_gbps: Optional[Gbps] = None
    min_d2h_gbps: Optional[Gbps] = None
    min_h2d_fraction: Optional[Fraction] = None
    min_d2h_fraction: Optional[Fraction] = None
    max_leak: SizeOrZero = MAX_LEAK
    max_below_fleet: Optional[Annotated[float, Field(gt=0, lt=1)]] = 0.25  # null: no fleet comparison
    outlier: Literal["warn", "fail"] = "warn"
    min_duty_cycle: Optional[Fraction] = None  # under it: a low_duty_cycle warning (the link was not stressed)
    chips: Dict[ChipName, ChipThresholds] = {}

    def for_device(self, own: Dict[str, Any]) -> Thresholds:
        """These thresholds with a device's own (``DEVICE_THRESHOLDS`` keys it sets, null included):
        they hold whatever its chip turns out to be, so no ``chips`` entry sets them any more."""
        if not own:
            return self
        chips = {name: ChipThresholds(**_left(c, own)) for name, c in self.chips.items()}
        return self.model_copy(update=dict(own, chips=chips))

    def for_chip(self, chip: Optional[str]) -> Thresholds:
        """These thresholds with the ``chips`` entry of ``chip`` applied (its keys that are not null);
        the chip is known once the device has opened, so this is applied when judging."""
        name = max((n for n in self.chips if chip and chip.startswith(n)), key=len, default=None)
        if name is None:
            return self
        return self.model_copy(update=self.chips[name].model_dump(exclude_none=True))


def _left(chip: Section, own: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in chip.model_dump(exclude_none=True).items() if k not in own}


class Expect(Section):
    devices: Annotated[int, Field(ge=1)]


class Host(Section):
    name: Annotated[str, Field(min_length=1)]
    devices: DeviceSelection = "all"
    overrides: Dict[DeviceId, Override] = {}
    expect: Optional[Expect] = None


class FaultBase(Section):
    host: Optional[str] = None
    device: DeviceId


SETTING_TYPES: Dict[str, Any] = {
    "position": Position,
    "size": Size,
    "factor": Annotated[float, Field(gt=1, allow_inf_nan=False)],
    "signal": Annotated[Union[int, str], BeforeValidator(signal_name)],
    "code": Annotated[int, Field(ge=1, le=2**31 - 1)],
    "times": LoopCount,
}
"""The spec's type for each of the catalog's ``VALUE_KINDS`` (sizes take units here)."""
assert set(SETTING_TYPES) == set(catalog.VALUE_KINDS), "a type for every kind of setting value"


def _fault_model(kind: catalog.FaultKind) -> Type[FaultBase]:
    fields: Dict[str, Any] = {"kind": (Literal[kind.name], ...)}
    for name, setting in kind.settings.items():
        default = ... if setting.default is catalog.REQUIRED else setting.default
        fields[name] = (SETTING_TYPES[setting.kind], default)
    model: Type[FaultBase] = create_model(f"{kind.name}_fault", __base__=FaultBase, __doc__=kind.doc, **fields)
    return model


FAULT_MODELS: Dict[str, Type[FaultBase]] = {name: _fault_model(kind) for name, kind in catalog.FAULTS.items()}
"""One model per simulator fault kind, built from the catalog (``workers/simulator/catalog.py``)."""
if TYPE_CHECKING:
    AnyFault = FaultBase
else:
    AnyFault = Annotated[Union[tuple(FAULT_MODELS.values())], Field(discriminator="kind")]


class SimMemory(Section):
    hbm: Optional[SizeOrZero] = None
    ddr: Optional[SizeOrZero] = None


class Sim(Section):
    chip: Annotated[str, BeforeValidator(one_of(catalog.CHIPS))] = catalog.DEFAULT_CHIP
    device_count: Annotated[int, Field(ge=1, le=catalog.MAX_DEVICES)] = catalog.DEFAULT_DEVICE_COUNT
    memory: SimMemory = SimMemory()
    huge_share: Optional[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] = catalog.DEFAULT_HUGE_SHARE
    driver_cache: SizeOrZero = catalog.DEFAULT_DRIVER_CACHE
    memory_noise: SizeOrZero = catalog.DEFAULT_MEMORY_NOISE
    run_mode: Annotated[str, BeforeValidator(one_of(tuple(catalog.RUN_MODES)))] = catalog.DEFAULT_RUN_MODE
    link_gbps: Optional[Gbps] = None
    faults: List[AnyFault] = []


SIM_RUNTIME_KEYS = ("huge_share", "driver_cache", "memory_noise", "run_mode")
"""Keys of ``sim:`` whose defaults are the catalog's, so the simulator needs them only when set."""


class Ray(Section):
    address: Annotated[str, AfterValidator(_ray_address)] = "auto"


class FleetSpec(Section):
    """A validated fleet spec; every key holds its value or its default."""

    version: Annotated[Literal[1], BeforeValidator(_version)]
    backend: Annotated[str, BeforeValidator(one_of(BACKENDS))] = "auto"
    launcher: Annotated[str, BeforeValidator(one_of(LAUNCHER_NAMES))] = "local"
    unattended: bool = False
    concurrency: Annotated[Any, BeforeValidator(_concurrency)] = "all"
    status_interval: PositiveDuration = 30.0
    keep: Optional[Annotated[int, Field(ge=1)]] = None  # run directories kept beside a run (``run --keep``)
    defaults: Defaults = Defaults()
    timeouts: Timeouts = Timeouts()
    thresholds: Thresholds = Thresholds()
    hosts: Annotated[List[Host], Field(min_length=1), BeforeValidator(_every_host)] = [Host(name="localhost")]
    sim: Sim = Sim()
    ray: Ray = Ray()
    expect: Optional[Expect] = None

    def sim_config(self, host: Optional[str] = None, faults: bool = True) -> Dict[str, Any]:
        """The simulator's settings as plain data: ``chip``, ``device_count``, ``memory`` (only the
        kinds set, bytes), ``link_gbps``, those of ``SIM_RUNTIME_KEYS`` the spec sets (the others
        take the catalog's defaults in the simulator too) and ``faults``. With ``host``, only that
        host's faults and without their ``host`` key; without it, every fault with its host filled
        in. ``faults=False`` leaves the faults out (device discovery must see the devices as they are)."""
        config: Dict[str, Any] = {
            "chip": self.sim.chip,
            "device_count": self.sim.device_count,
            "memory": self.sim.memory.model_dump(exclude_none=True),
            "link_gbps": self.sim.link_gbps,
        }
        config.update({k: getattr(self.sim, k) for k in SIM_RUNTIME_KEYS if k in self.sim.model_fields_set})
        if faults:
            first = self.hosts[0].name
            listed = [dict(f.model_dump(), host=f.host or first) for f in self.sim.faults]
            if host is not None:
                listed = [{k: v for k, v in f.items() if k != "host"} for f in listed if f["host"] == host]
            config["faults"] = listed
        return config


SCHEMA = messages.Schema(root=FleetSpec, tagged=FAULT_MODELS, tagged_base=FaultBase)


def load_spec(path: Union[str, Path]) -> FleetSpec:
    """Read and validate the spec in ``path``; raises ``SpecError`` listing every problem."""
    return parse_spec(load_yaml(path), str(path))


def parse_spec(data: object, source: str = "spec") -> FleetSpec:
    """Validate plain data (as YAML gives it); raises ``SpecError`` listing every problem."""
    if not isinstance(data, dict):
        raise SpecError(
            [f"{source}: must be a mapping of keys such as version, defaults, hosts (got {messages.shown(data)})"]
        )
    try:
        spec = FleetSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(messages.problems(exc.errors(), SCHEMA)) from None
    problems = _duplicate_hosts(spec) + _conflicts(spec)
    if problems:
        raise SpecError(problems)
    return spec


def _duplicate_hosts(spec: FleetSpec) -> List[str]:
    first: Dict[str, int] = {}
    problems = []
    for index, host in enumerate(spec.hosts):
        if host.name in first:
            problems.append(f"hosts[{index}].name: host {host.name!r} is listed twice (also hosts[{first[host.name]}])")
        first.setdefault(host.name, index)
    return problems


def _conflicts(spec: FleetSpec) -> List[str]:
    """Worker keys that cannot run together (``workers.params.RULES``), in ``defaults`` and in
    each override merged with them; an override is blamed only for the keys it sets."""
    base = spec.defaults.model_dump()
    problems = [_conflict("defaults", key, other, why, base) for key, other, why in conflicts(base)]
    for index, host in enumerate(spec.hosts):
        for device, override in host.overrides.items():
            own = override.model_fields_set
            merged = {**base, **override.model_dump(exclude_unset=True)}
            for key, other, why in conflicts(merged):
                if key in own or other in own:
                    blamed = key if key in own else other
                    where = f"hosts[{index}].overrides.{device}"
                    problems.append(_conflict(where, blamed, key if blamed == other else other, why, merged))
    return problems


def _conflict(where: str, key: str, other: str, why: str, values: Dict[str, Any]) -> str:
    return f"{where}.{key}: {why} (got {key}: {_shown_value(values[key])} with {other}: {_shown_value(values[other])})"


def _shown_value(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(units.format_size(v) for v in value) + "]"
    return messages.shown(value)
