"""What fleet a sandbox stands for: its partitions, and each worker's fake GPUs.

A real cluster is not N identical workers: partitions hold different GPU models, a node
may have fewer GPUs than its neighbours, and a node that just arrived has no driver yet.
A small YAML spec says so (``snakepit-sandbox up --spec FILE``):

.. code:: yaml

    partitions:
      txp:                          # the first partition is the default one
        gpu_type: geforce_rtx_2080_ti
        gpus: 2                     # fake GPUs per worker, unless the worker says otherwise
        workers:
          worker1: {}
          worker2: {gpus: 1}
          worker3: {driver: false}  # may use its GPUs, but no /dev/nvidia* until a driver

A worker with ``driver: false`` gets the device-cgroup rules of its GPUs but no device
files: what a node looks like before its NVIDIA driver is installed and loaded.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from tools.sandbox.stubrepo import STUB_GPU_TYPE

DEFAULT_PARTITION = "txp"  # the production default partition
DEFAULT_GPUS = 2
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
GPU_TYPE_RE = re.compile(r"^[a-z0-9_.-]+$")


class FleetError(ValueError):
    pass


@dataclass(frozen=True)
class Worker:
    name: str
    partition: str
    gpus: int
    driver: bool = True  # False: device rules, no device files (the driver is not loaded)

    @property
    def minors(self) -> tuple[int, ...]:
        return tuple(range(self.gpus))


@dataclass(frozen=True)
class Partition:
    name: str
    gpu_type: str
    gpus: int  # what the partition declares per worker (group_data/<partition>.py)


@dataclass(frozen=True)
class Fleet:
    partitions: tuple[Partition, ...]
    workers: tuple[Worker, ...]

    @classmethod
    def uniform(cls, workers: int, gpus: int = DEFAULT_GPUS) -> Fleet:
        """The default: ``workers`` workers of the default partition, ``gpus`` fake GPUs each."""
        if workers < 0:
            raise FleetError("workers must be >= 0")
        return cls(
            (Partition(DEFAULT_PARTITION, STUB_GPU_TYPE, gpus),),
            tuple(Worker(f"worker{i}", DEFAULT_PARTITION, gpus) for i in range(1, workers + 1)),
        )

    def with_worker(
        self, name: str, partition: str | None = None, gpus: int | None = None, driver=True
    ) -> Fleet:
        """This fleet and one more worker (in the default partition unless named)."""
        part = self.partition(partition or self.partitions[0].name)
        worker = Worker(name, part.name, part.gpus if gpus is None else gpus, driver)
        return _checked(replace(self, workers=(*self.workers, worker)))

    def partition(self, name: str) -> Partition:
        for partition in self.partitions:
            if partition.name == name:
                return partition
        raise FleetError(f"no partition {name!r} (known: {[p.name for p in self.partitions]})")

    def worker(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)

    def members(self, partition: str) -> tuple[Worker, ...]:
        return tuple(w for w in self.workers if w.partition == partition)

    def to_dict(self) -> dict:
        return {
            "partitions": {
                p.name: {
                    "gpu_type": p.gpu_type,
                    "gpus": p.gpus,
                    "workers": {
                        w.name: {
                            **({"gpus": w.gpus} if w.gpus != p.gpus else {}),
                            **({"driver": False} if not w.driver else {}),
                        }
                        for w in self.members(p.name)
                    },
                }
                for p in self.partitions
            }
        }

    def dump(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def from_dict(data: object, where: str = "fleet spec") -> Fleet:
    """A validated fleet from the spec's data; FleetError names the field that is wrong."""
    if not isinstance(data, dict) or set(data) != {"partitions"}:
        raise FleetError(f"{where}: expected exactly one key, 'partitions'")
    raw = data["partitions"]
    if not isinstance(raw, dict) or not raw:
        raise FleetError(f"{where}: partitions: a mapping of at least one partition")
    partitions, workers = [], []
    for name, body in raw.items():
        at = f"{where}: partitions.{name}"
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise FleetError(f"{at}: not a partition name (lower case letters, digits, '-')")
        body = _mapping(body, at, {"gpu_type", "gpus", "workers"})
        gpu_type = body.get("gpu_type", STUB_GPU_TYPE)
        if not isinstance(gpu_type, str) or not GPU_TYPE_RE.match(gpu_type):
            raise FleetError(f"{at}.gpu_type: {gpu_type!r} is not a GRES type")
        gpus = _count(body.get("gpus", DEFAULT_GPUS), f"{at}.gpus")
        partitions.append(Partition(name, gpu_type, gpus))
        for worker, spec in (body.get("workers") or {}).items():
            wat = f"{at}.workers.{worker}"
            if not isinstance(worker, str) or not NAME_RE.match(worker) or worker == "head":
                raise FleetError(f"{wat}: not a worker name")
            spec = _mapping(spec or {}, wat, {"gpus", "driver"})
            driver = spec.get("driver", True)
            if not isinstance(driver, bool):
                raise FleetError(f"{wat}.driver: true or false")
            workers.append(Worker(worker, name, _count(spec.get("gpus", gpus), wat), driver))
    return _checked(Fleet(tuple(partitions), tuple(workers)), where)


def load(path: Path) -> Fleet:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise FleetError(f"{path}: {error}") from None
    return from_dict(data, str(path))


def declared_gpus(fleet: Fleet, partition: Partition) -> int:
    """What the partition's data declares: the count most of its workers have (a worker
    with another count declares its own in the inventory)."""
    counts = Counter(w.gpus for w in fleet.members(partition.name))
    return counts.most_common(1)[0][0] if counts else partition.gpus


def _checked(fleet: Fleet, where: str = "fleet spec") -> Fleet:
    names = [w.name for w in fleet.workers]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise FleetError(f"{where}: worker {twice[0]} is in more than one place")
    return fleet


def _mapping(value: object, where: str, keys: set[str]) -> dict:
    if not isinstance(value, dict):
        raise FleetError(f"{where}: expected a mapping")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise FleetError(f"{where}: unknown key {unknown[0]!r} (known: {sorted(keys)})")
    return value


def _count(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 16:
        raise FleetError(f"{where}: a GPU count from 0 to 16, not {value!r}")
    return value
