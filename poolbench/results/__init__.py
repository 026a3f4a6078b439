"""Measured results: the model (`model`), where they were measured (`environment`) and
the versioned results.json file (`io`)."""

from poolbench.results.environment import Environment
from poolbench.results.io import RESULTS_FILE, from_dict, load, run_directory, save
from poolbench.results.model import (
    CPU_COST_FIELDS,
    CPU_PARTS,
    LATENCY_KEYS,
    METRIC_NAMES,
    SCHEMA_VERSION,
    Budget,
    GateResult,
    Latency,
    Memory,
    ParamValue,
    PartCpu,
    PointResult,
    PriorityResult,
    ResultSet,
    TimelineSample,
    comparable_versions,
)

__all__ = [
    "CPU_COST_FIELDS",
    "CPU_PARTS",
    "LATENCY_KEYS",
    "METRIC_NAMES",
    "RESULTS_FILE",
    "SCHEMA_VERSION",
    "Budget",
    "Environment",
    "GateResult",
    "Latency",
    "Memory",
    "ParamValue",
    "PartCpu",
    "PointResult",
    "PriorityResult",
    "ResultSet",
    "TimelineSample",
    "comparable_versions",
    "from_dict",
    "load",
    "run_directory",
    "save",
]
