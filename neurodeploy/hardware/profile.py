"""Hardware profiles: the only place hardware numbers come from.

A profile is a YAML file (``hw_profiles/*.yaml`` or the user's own). This module
validates it against a fixed schema (section and key names, types, sanity ranges)
and turns it into frozen dataclasses. It holds no hardware numbers itself.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from ..errors import ProfileError

PROFILE_DIR = Path(__file__).resolve().parent.parent / "hw_profiles"


@dataclass(frozen=True)
class SystemSpec:
    """Chips, cores and the 2-D mesh of router tiles; chips sit on a 2-D grid of links."""

    chips: int
    cores_per_chip: int
    cores_per_tile: int
    mesh_tiles: tuple[int, int]
    chip_grid: tuple[int, int] = (1, 1)

    @property
    def total_cores(self) -> int:
        return self.chips * self.cores_per_chip


@dataclass(frozen=True)
class CoreSpec:
    """Per-core resource limits. ``max_neuron_configs`` (optional): how many distinct neuron
    parameter sets (du, dv, vth, reset) one core's configuration table holds.
    ``population_axon_slots`` (optional): output-axon slots of one population axon, which
    carries every channel of one input position of a convolution or pooling to one core (the
    channel as its atom); 0: no population axons, every neuron needs its own output axons."""

    max_neurons: int
    max_input_axons: int
    max_output_axons: int
    synapse_memory_bits: int
    max_neuron_configs: int = 0  # 0: no such table in this profile
    population_axon_slots: int = 0


@dataclass(frozen=True)
class SynapseEncodingSpec:
    """How the synapses of one input axon occupy synaptic memory.

    Synapses are stored in blocks of up to ``synapses_per_block`` entries; each block
    costs ``n * bits_per_synapse + block_header_bits`` bits rounded up to whole words,
    where a synapse takes ``weight_bits`` (dense lists) plus ``index_bits`` (sparse lists,
    which name their target neuron).
    """

    word_bits: int
    synapses_per_block: int
    block_header_bits: int
    weight_bits: int
    index_bits: int


@dataclass(frozen=True)
class ArithmeticSpec:
    """Integer formats of the synapse and neuron datapath."""

    weight_mantissa_bits: int
    weight_exponent_min: int
    weight_exponent_max: int
    decay_bits: int
    threshold_mantissa_bits: int
    threshold_shift: int
    activation_shift: int
    bias_mantissa_bits: int
    bias_exponent_max: int
    state_bits: int
    graded_spike_bits: int
    max_synaptic_delay: int

    @property
    def decay_unity(self) -> int:
        """2**decay_bits: the decay denominator (a decay of d keeps (unity - d)/unity)."""
        return 1 << self.decay_bits

    @property
    def decay_max(self) -> int:
        return (1 << self.decay_bits) - 1

    @property
    def threshold_max(self) -> int:
        return (1 << self.threshold_mantissa_bits) - 1

    @property
    def bias_mantissa_max(self) -> int:
        return (1 << (self.bias_mantissa_bits - 1)) - 1

    @property
    def bias_mantissa_min(self) -> int:
        return -(1 << (self.bias_mantissa_bits - 1))

    @property
    def state_max(self) -> int:
        """Largest magnitude of u and v: 2**(state_bits-1) - 1."""
        return (1 << (self.state_bits - 1)) - 1


@dataclass(frozen=True)
class OperationCosts:
    """Energy (J) or time (s) per hardware operation: the terms of SANA-FE's Loihi description
    (docs/energy.md states the model that charges them and what counts as each operation)."""

    synapse_dense: float  # one synaptic event: a spike reads one stored synapse of a dense projection
    synapse_sparse: float  # ... of a sparse projection (synapse lists with target indices)
    synapse_conv: float  # ... of a convolution (a shared kernel)
    dendrite: float  # per synaptic event: the dendrite accumulating it
    neuron_access: float  # every neuron, every step
    neuron_update: float  # an updated neuron: v nonzero before the step, synaptic input arrived, a bias, or a spike
    spike_out: float  # a neuron's output spike
    message_out: float  # a spike message sent: one per spiking neuron and destination core
    message_in: float  # a spike message received
    hop_east_west: float  # a message crossing one router tile in x
    hop_north_south: float  # ... in y
    chip_hop: float = 0.0  # a message crossing one chip-to-chip link


@dataclass(frozen=True)
class TimingSpec(OperationCosts):
    """Time per operation plus the barrier synchronisation that ends every step: ``barrier_sync``
    maps a number of router tiles in use to seconds; the entry with the largest key not above
    the tiles in use applies (SANA-FE's ``latency_sync`` table)."""

    barrier_sync: Mapping[int, float] = dataclasses.field(kw_only=True)  # required (the fields before it have defaults)

    def barrier(self, tiles: int) -> float:
        keys = [k for k in sorted(self.barrier_sync) if k <= tiles] or [min(self.barrier_sync)]
        return self.barrier_sync[keys[-1]]


@dataclass(frozen=True)
class LearningEngineSpec:
    """Limits of the on-chip learning engine (``learning/lowering.py`` checks rules against them)."""

    trace_bits: int  # pre/post traces x1, x2, y1..y3 are unsigned of this width
    impulse_fraction_bits: int  # fractional bits of a trace impulse (rounded stochastically)
    trace_decay_bits: int  # a trace keeps (2**bits - d) / 2**bits of itself per step
    weight_bits: int  # learned weights: this many bits plus a sign in mixed mode
    tag_bits: int  # tags (eligibility t, delay d): this many bits plus a sign
    accumulator_bits: int  # synaptic-update accumulator, sign included
    scale_mantissa_bits: int  # a product's scaling constant S = m * 2**e: m has this many bits, sign included
    scale_exponent_min: int
    scale_exponent_max: int
    epoch_exponent_max: int  # learning epochs are 2**k steps, k <= this
    synaptic_update_energy_j: float  # energy of one synaptic update by the learning engine


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    description: str
    source_path: str
    system: SystemSpec
    core: CoreSpec
    synapse_encoding: SynapseEncodingSpec
    arithmetic: ArithmeticSpec
    energy_j: OperationCosts
    time_s: TimingSpec
    estimates: tuple[str, ...]
    learning: LearningEngineSpec | None = None  # None: the profile says nothing about on-chip learning

    def is_estimate(self, dotted_key: str) -> bool:
        """True if ``dotted_key`` (e.g. ``energy_j.synapse_dense``) or its section is an estimate."""
        return any(dotted_key == e or dotted_key.startswith(e + ".") for e in self.estimates)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS: dict[str, type] = {
    "system": SystemSpec,
    "core": CoreSpec,
    "synapse_encoding": SynapseEncodingSpec,
    "arithmetic": ArithmeticSpec,
    "energy_j": OperationCosts,
    "time_s": TimingSpec,
}
_OPTIONAL_SECTIONS: dict[str, type] = {"learning": LearningEngineSpec}
_TOP_LEVEL = {"name", "description", "estimates", *_SECTIONS, *_OPTIONAL_SECTIONS}

# The range of every integer key: wide enough for any chip, narrow enough that no value makes
# the passes, engines or plots allocate without bound or shift past an int32.
_INT_RANGES: dict[str, tuple[int, int]] = {
    "system.chips": (1, 4096),
    "system.cores_per_chip": (1, 65536),
    "system.cores_per_tile": (1, 1024),
    "core.max_neurons": (1, 1 << 20),
    "core.max_input_axons": (1, 1 << 20),
    "core.max_output_axons": (1, 1 << 20),
    "core.synapse_memory_bits": (1, 1 << 40),
    "core.max_neuron_configs": (0, 1 << 20),
    "core.population_axon_slots": (0, 64),
    "synapse_encoding.word_bits": (1, 1024),
    "synapse_encoding.synapses_per_block": (1, 65536),
    "synapse_encoding.block_header_bits": (0, 65536),
    "synapse_encoding.weight_bits": (1, 64),
    "synapse_encoding.index_bits": (0, 64),
    "arithmetic.weight_mantissa_bits": (2, 16),
    "arithmetic.weight_exponent_min": (-31, 31),
    "arithmetic.weight_exponent_max": (-31, 31),
    "arithmetic.decay_bits": (1, 16),
    "arithmetic.threshold_mantissa_bits": (1, 31),
    "arithmetic.threshold_shift": (0, 31),
    "arithmetic.activation_shift": (0, 31),
    "arithmetic.bias_mantissa_bits": (2, 24),
    "arithmetic.bias_exponent_max": (0, 31),
    "arithmetic.state_bits": (2, 32),
    "arithmetic.graded_spike_bits": (0, 32),
    "arithmetic.max_synaptic_delay": (0, 65535),
    "learning.trace_bits": (1, 16),
    "learning.impulse_fraction_bits": (0, 16),
    "learning.trace_decay_bits": (1, 16),
    "learning.weight_bits": (1, 16),
    "learning.tag_bits": (1, 16),
    "learning.accumulator_bits": (2, 32),
    "learning.scale_mantissa_bits": (1, 8),
    "learning.scale_exponent_min": (-15, 15),
    "learning.scale_exponent_max": (-15, 15),
    "learning.epoch_exponent_max": (0, 16),
}
_PAIR_RANGES: dict[str, tuple[int, int]] = {"system.mesh_tiles": (1, 4096), "system.chip_grid": (1, 4096)}
_MAX_COST = 1.0  # joules or seconds per operation: no chip comes near
_MAX_TILES = 4096 * 4096 * 4096  # a barrier table's keys: router tiles in use, at most mesh x mesh x chips

# Profiles are small, flat files: anything larger or deeper is not one (and is refused before
# it is parsed into Python objects). YAML aliases are refused: they can expand a few bytes
# into billions of values ("billion laughs").
MAX_PROFILE_BYTES = 1 << 20
MAX_YAML_DEPTH = 16
MAX_YAML_EVENTS = 100_000
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader where PyYAML has it, else the same in Python


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def resolve_profile_path(name_or_path: str) -> Path:
    """A profile name (``loihi2``) or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ProfileError(f"profile file {name_or_path!r} " + ("is not a file" if candidate.exists() else "does not exist"))
        return candidate
    path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ProfileError(
            f"unknown profile {name_or_path!r}: built-in profiles are {', '.join(available_profiles())}, "
            "or give a path to a .yaml file"
        )
    return path


def load_profile(name_or_path: str) -> HardwareProfile:
    """Load and validate a hardware profile; every problem is a ProfileError naming file and key."""
    path = resolve_profile_path(name_or_path)
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: a profile must be a YAML mapping of sections")
    return _build_profile(raw, path)


def _read_yaml(path: Path) -> Any:
    """The YAML document in ``path``, read within the limits above; a ProfileError otherwise."""
    try:
        size = path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ProfileError(f"{path}: {size} bytes; a profile is a small YAML file (at most {MAX_PROFILE_BYTES} bytes)")
        with path.open("rb") as handle:
            data = handle.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileError(f"{path}: more than {MAX_PROFILE_BYTES} bytes; a profile is a small YAML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: not UTF-8 text (byte {exc.start}); save the profile as UTF-8") from None
    try:
        _check_yaml_shape(text, path)
        return yaml.load(text, Loader=_LOADER)  # a safe loader: plain data, no Python objects
    except ProfileError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the YAML library cannot read is the user's file to fix
        first = str(exc).strip().splitlines()
        raise ProfileError(f"{path}: not valid YAML ({exc.__class__.__name__}: {first[0] if first else ''})") from None


def _check_yaml_shape(text: str, path: Path) -> None:
    """Walk the YAML events (the parser keeps its own stack: no recursion, nothing built yet):
    no alias, nesting at most MAX_YAML_DEPTH deep, at most MAX_YAML_EVENTS events."""
    depth = 0
    for count, event in enumerate(yaml.parse(text, Loader=_LOADER)):
        if count > MAX_YAML_EVENTS:
            raise ProfileError(f"{path}: more than {MAX_YAML_EVENTS} YAML values; a profile is a small file")
        if isinstance(event, yaml.AliasEvent):
            raise ProfileError(f"{path}: uses the YAML alias *{event.anchor} (line {event.start_mark.line + 1}); profiles do not allow "
                               "aliases: write each value out")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise ProfileError(f"{path}: nested more than {MAX_YAML_DEPTH} levels deep (line {event.start_mark.line + 1}); "
                                   "a profile is sections of keys")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _listed(keys) -> str:
    """Key names for an error message: sorted, the first ten."""
    names = sorted(_show(k) if not isinstance(k, str) else _show(k)[1:-1] for k in keys)
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _show(value: Any) -> str:
    """A value for an error message: its repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _build_profile(raw: dict, path: Path) -> HardwareProfile:
    unknown = set(raw) - _TOP_LEVEL
    if unknown:
        raise ProfileError(
            f"{path}: unknown key(s) {_listed(unknown)}; allowed top-level keys: {', '.join(sorted(_TOP_LEVEL))}"
        )
    for key in ("name", *_SECTIONS):
        if key not in raw:
            raise ProfileError(f"{path}: missing section or key {key!r}")
    sections = {name: _build_section(raw[name], cls, name, path) for name, cls in _SECTIONS.items()}
    sections.update({name: _build_section(raw[name], cls, name, path) for name, cls in _OPTIONAL_SECTIONS.items() if name in raw})
    estimates = raw.get("estimates") or []
    if not isinstance(estimates, list) or not all(isinstance(e, str) for e in estimates):
        raise ProfileError(f"{path}: 'estimates' must be a list of dotted key names")
    profile = HardwareProfile(
        name=str(raw["name"]),
        description=str(raw.get("description", "")),
        source_path=str(path),
        estimates=tuple(estimates),
        **sections,
    )
    _check_consistency(profile, path)
    for key in profile.estimates:
        if not _key_exists(profile, key):
            raise ProfileError(f"{path}: estimates lists {key!r}, which is not a key of the profile")
    return profile


def _build_section(raw: Any, cls: type, section: str, path: Path):
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: section {section!r} must be a mapping")
    names = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(names)
    if unknown:
        raise ProfileError(
            f"{path}: unknown key(s) {_listed(f'{section}.{k}' for k in unknown)}; "
            f"allowed in {section!r}: {', '.join(names)}"
        )
    values = {}
    for name, field in names.items():
        if name not in raw:
            if field.default is not dataclasses.MISSING:
                continue
            raise ProfileError(f"{path}: missing key {section}.{name}")
        values[name] = _check_value(raw[name], field.type, f"{section}.{name}", path)
    return cls(**values)


def _check_value(value: Any, type_name: Any, key: str, path: Path):
    if type_name in ("int", int):
        lowest, highest = _INT_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{path}: {key} must be an integer, got {_show(value)}")
        if not lowest <= value <= highest:
            raise ProfileError(f"{path}: {key} = {_show(value)} is impossible (must be {lowest}..{highest})")
        return value
    if type_name in ("float", float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= _MAX_COST:
            raise ProfileError(f"{path}: {key} must be a finite number >= 0 and <= {_MAX_COST:g} (joules or seconds per operation), got {_show(value)}")
        return float(value)
    if type_name == "tuple[int, int]":
        lowest, highest = _PAIR_RANGES[key]
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and lowest <= v <= highest for v in value)
        ):
            raise ProfileError(f"{path}: {key} must be a list of two integers [x, y], each {lowest}..{highest}, got {_show(value)}")
        return (int(value[0]), int(value[1]))
    if type_name == "Mapping[int, float]":
        if not isinstance(value, dict) or not value or 1 not in value:
            raise ProfileError(f"{path}: {key} must map numbers of tiles to seconds, with an entry for 1 tile, got {_show(value)}")
        table = {}
        for tiles, seconds in value.items():
            if isinstance(tiles, bool) or not isinstance(tiles, int) or not 1 <= tiles <= _MAX_TILES:
                raise ProfileError(f"{path}: {key} has the key {_show(tiles)}: keys are numbers of tiles (integers 1..{_MAX_TILES})")
            table[tiles] = _check_value(seconds, "float", f"{key}.{tiles}", path)
        return table
    raise AssertionError(f"profile schema has an unhandled type {type_name!r} for {key}")


def _check_consistency(p: HardwareProfile, path: Path) -> None:
    """Values that are individually valid but impossible together."""
    a = p.arithmetic
    problems = []
    if a.weight_exponent_min > a.weight_exponent_max:
        problems.append(f"arithmetic.weight_exponent_min ({a.weight_exponent_min}) > weight_exponent_max ({a.weight_exponent_max})")
    if not 2 <= a.state_bits <= 32:
        problems.append(f"arithmetic.state_bits = {a.state_bits} (must be 2..32: state is held in int32)")
    if a.threshold_mantissa_bits + a.threshold_shift >= a.state_bits + 8:
        problems.append("arithmetic.threshold_mantissa_bits + threshold_shift exceed the state width by more than 8 bits")
    if not 1 <= a.decay_bits <= 16:
        problems.append(f"arithmetic.decay_bits = {a.decay_bits} (must be 1..16)")
    if not 2 <= a.weight_mantissa_bits <= 16:
        problems.append(f"arithmetic.weight_mantissa_bits = {a.weight_mantissa_bits} (must be 2..16)")
    if not 2 <= a.bias_mantissa_bits <= 24:
        problems.append(f"arithmetic.bias_mantissa_bits = {a.bias_mantissa_bits} (must be 2..24)")
    if a.graded_spike_bits > 32:
        problems.append(f"arithmetic.graded_spike_bits = {a.graded_spike_bits} (must be 0..32)")
    s = p.system
    if s.chip_grid[0] * s.chip_grid[1] < s.chips:
        problems.append(f"system.chip_grid {list(s.chip_grid)} has fewer than system.chips = {s.chips} places")
    if s.mesh_tiles[0] * s.mesh_tiles[1] * s.cores_per_tile < s.cores_per_chip:
        problems.append(
            f"system.mesh_tiles {list(s.mesh_tiles)} x cores_per_tile {s.cores_per_tile} hold fewer than "
            f"cores_per_chip = {s.cores_per_chip} cores"
        )
    e = p.synapse_encoding
    if e.weight_bits * 1 + e.block_header_bits > e.word_bits * e.synapses_per_block:
        problems.append("synapse_encoding: one synapse does not fit in a block")
    if p.learning is not None and p.learning.scale_exponent_min > p.learning.scale_exponent_max:
        problems.append("learning.scale_exponent_min > learning.scale_exponent_max")
    if problems:
        raise ProfileError(f"{path}: impossible values: " + "; ".join(problems))


def _key_exists(profile: HardwareProfile, dotted: str) -> bool:
    obj: Any = profile
    for part in dotted.split("."):
        if not dataclasses.is_dataclass(obj) or part not in {f.name for f in fields(obj)}:
            return False
        obj = getattr(obj, part)
    return True
