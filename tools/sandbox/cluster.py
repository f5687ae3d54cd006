"""A throwaway cluster of real Debian hosts: Docker containers running systemd and sshd.

Every container is a full host as far as pyinfra is concerned: it is reached over SSH with a
key made for this sandbox alone, runs systemd as PID 1 and has a real hostname that the other
hosts resolve through Docker's network DNS. Everything the sandbox creates carries the label
``snakepit.sandbox=<name>`` so that `down` removes exactly what `up` made.
"""

from __future__ import annotations

import io
import json
import os
import runpy
import shutil
import socket
import tarfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import docker
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from snakepit.secrets import generate as generate_secrets
from tools.sandbox import image
from tools.sandbox.engine import ensure_engine
from tools.sandbox.stubrepo import STUB_GPU_TYPE

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_ROOT = REPO_ROOT / ".sandbox"
DEFAULT_NAME = "snakepit"
LABEL = "snakepit.sandbox"
HEAD = "head"
GROUP_DATA = REPO_ROOT / "group_data"
# The sandbox's workers form the production default partition, with these GPUs each:
SANDBOX_PARTITION = "txp"
FAKE_GPUS_PER_WORKER = 2

# What systemd needs to run as PID 1 on these machines (`--privileged` fails here), and
# Slurm's production plugins: task/cgroup and proctrack/cgroup a cgroup namespace of its
# own, whose hierarchies the image's init mounts read-write (SYS_ADMIN); task/affinity
# root's right to pin another user's task to its CPUs (SYS_NICE, as root has on a host).
RUN_OPTIONS = {
    "cap_add": ["SYS_ADMIN", "SYS_NICE"],
    "cgroupns": "private",
    "tmpfs": {"/run": "", "/run/lock": ""},
    "environment": {"container": "docker"},
    "stop_signal": "SIGRTMIN+3",  # systemd's clean shutdown
}
NVIDIA_MAJOR = 195


def fake_gpu_options(role: str) -> dict:
    """A worker's fake GPUs: the image's init makes /dev/nvidia<minor> at every start, and
    the container may use exactly those devices. One rule per device, never `c 195:*`:
    Slurm confines a job by denying the GPUs it was not given, and a wildcard allowed
    above the job's cgroup would outlive that deny."""
    if role != "worker":
        return {}
    minors = range(FAKE_GPUS_PER_WORKER)
    return {
        "environment": {
            **RUN_OPTIONS["environment"],
            "SANDBOX_FAKE_GPUS": " ".join(str(m) for m in minors),
        },
        "device_cgroup_rules": [f"c {NVIDIA_MAJOR}:{m} rwm" for m in minors],
    }


class SandboxError(RuntimeError):
    pass


@dataclass(frozen=True)
class SandboxHost:
    name: str
    role: str  # "head" or "worker"
    container: str
    address: str


def worker_names(count: int) -> list[str]:
    return [f"worker{i}" for i in range(1, count + 1)]


class Sandbox:
    def __init__(self, name: str = DEFAULT_NAME, state_root: Path | None = None):
        if not name.replace("-", "").isalnum():
            raise SandboxError(f"sandbox name must be letters, digits and '-': {name!r}")
        self.name = name
        self.state_dir = (state_root or DEFAULT_STATE_ROOT) / name
        self._client: docker.DockerClient | None = None

    # -- paths -----------------------------------------------------------------------------
    @property
    def key_path(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def inventory_path(self) -> Path:
        return self.state_dir / "inventory.py"

    @property
    def hosts_path(self) -> Path:
        return self.state_dir / "hosts.json"

    @property
    def network_name(self) -> str:
        return f"{self.name}-net"

    def container_name(self, host: str) -> str:
        return f"{self.name}-{host}"

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            ensure_engine()
            self._client = docker.from_env()
        return self._client

    # -- lifecycle -------------------------------------------------------------------------
    def up(self, workers: int = 2) -> list[SandboxHost]:
        """Create or resume head + `workers` workers; return them once SSH answers."""
        if workers < 0:
            raise SandboxError("workers must be >= 0")
        tag = image.build_base_image(self.client)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        public_key = self._ensure_key()
        network = self._ensure_network()
        wanted = [(HEAD, "head")] + [(w, "worker") for w in worker_names(workers)]
        for container in self._containers():
            if container.labels.get("snakepit.host") not in {h for h, _ in wanted}:
                container.remove(force=True)
        for host, role in wanted:
            self._ensure_container(tag, network, host, role)
        hosts = []
        for host, role in wanted:
            container = self.client.containers.get(self.container_name(host))
            self._wait_for_systemd(container)
            self._install_authorized_key(container, public_key)
            if role == "worker":
                self._check_fake_gpus(container)
            hosts.append(SandboxHost(host, role, container.name, self._address(container)))
        for host in hosts:
            _wait_for_port(host.address, 22)
        self._write_state(hosts)
        return hosts

    def down(self) -> None:
        if not self._engine_reachable():
            return
        for container in self._containers():
            container.remove(force=True)
        for network in self.client.networks.list(filters={"label": f"{LABEL}={self.name}"}):
            network.remove()
        for volume in self.client.volumes.list(filters={"label": f"{LABEL}={self.name}"}):
            volume.remove(force=True)
        # Keys, secrets, inventory and group-data overrides belong to this sandbox alone.
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def hosts(self) -> list[SandboxHost]:
        """The running hosts, head first, as Docker reports them now."""
        found = []
        for container in self._containers():
            container.reload()
            if container.status != "running":
                continue
            found.append(
                SandboxHost(
                    container.labels["snakepit.host"],
                    container.labels["snakepit.role"],
                    container.name,
                    self._address(container),
                )
            )
        return sorted(found, key=lambda h: (h.role != "head", _natural_key(h.name)))

    def exec(self, host: str, command: str) -> tuple[int, str]:
        """Run a shell command in a host through Docker (for tests and checks, not deploys)."""
        container = self.client.containers.get(self.container_name(host))
        result = container.exec_run(["/bin/sh", "-c", command], demux=False)
        return result.exit_code, result.output.decode(errors="replace")

    # -- pieces ----------------------------------------------------------------------------
    def _engine_reachable(self) -> bool:
        try:
            _ = self.client
        except Exception:
            return False
        return True

    def _labels(self, **extra: str) -> dict[str, str]:
        return {LABEL: self.name, **extra}

    def _containers(self) -> list:
        return self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.name}"})

    def _ensure_key(self) -> str:
        public_path = self.key_path.with_suffix(".pub")
        if not self.key_path.exists() or not public_path.exists():
            key = Ed25519PrivateKey.generate()
            private = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
            public = key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(private)
            public_path.write_text(f"{public.decode()} snakepit-sandbox-{self.name}\n")
        return public_path.read_text()

    def _ensure_network(self):
        existing = self.client.networks.list(names=[self.network_name])
        if existing:
            return existing[0]
        return self.client.networks.create(
            self.network_name, driver="bridge", labels=self._labels()
        )

    def _ensure_container(self, tag: str, network, host: str, role: str) -> None:
        name = self.container_name(host)
        volumes = self._storage_volumes(role)
        try:
            container = self.client.containers.get(name)
        except docker.errors.NotFound:
            container = None
        wanted_binds = sorted(f"{v['bind']}:{v['mode']}" for v in volumes.values())
        if container is not None and (
            (container.image.tags and tag not in container.image.tags)
            or container.labels.get("snakepit.binds") != ",".join(wanted_binds)
        ):
            container.remove(force=True)  # made from an older recipe or storage table
            container = None
        if container is None:
            container = self.client.containers.create(
                tag,
                name=name,
                hostname=host,
                detach=True,
                labels=self._labels(
                    **{
                        "snakepit.host": host,
                        "snakepit.role": role,
                        "snakepit.binds": ",".join(wanted_binds),
                    }
                ),
                network=network.name,
                # The short name resolves on the sandbox network, as on a real LAN.
                networking_config={
                    network.name: self.client.api.create_endpoint_config(aliases=[host])
                },
                volumes=volumes,
                **{**RUN_OPTIONS, **fake_gpu_options(role)},
            )
        container.reload()
        if container.status != "running":
            container.start()

    def _wait_for_systemd(self, container, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            result = container.exec_run(["systemctl", "is-system-running"])
            state = result.output.decode().strip()
            if state in {"running", "degraded"}:
                return
            time.sleep(0.5)
        raise SandboxError(f"{container.name}: systemd did not finish booting ({state!r})")

    def _install_authorized_key(self, container, public_key: str) -> None:
        data = public_key.encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo("authorized_keys")
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        container.exec_run(["install", "-d", "-m", "0700", "/root/.ssh"])
        container.put_archive("/root/.ssh", buffer.getvalue())

    def _address(self, container) -> str:
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"]
        if self.network_name not in networks:
            raise SandboxError(f"{container.name} is not on {self.network_name}")
        return networks[self.network_name]["IPAddress"]

    def subnet(self) -> str:
        network = self.client.networks.get(self.network_name)
        return network.attrs["IPAM"]["Config"][0]["Subnet"]

    @property
    def secrets_path(self) -> Path:
        return self.state_dir / "secrets.yaml"

    @property
    def group_data_dir(self) -> Path:
        return self.state_dir / "group_data"

    def _storage_volumes(self, role: str) -> dict[str, dict[str, str]]:
        """One Docker volume per export, at the export's path on the head and at its mount
        point on workers (read-only where the export is): NFS without NFS."""
        volumes = {}
        for export in production_storage()["exports"]:
            volume = self._ensure_volume(export["path"])
            if role == "head":
                volumes[volume] = {"bind": export["path"], "mode": "rw"}
            else:
                volumes[volume] = {"bind": export["mount_point"], "mode": export["access"]}
        return volumes

    def _ensure_volume(self, export_path: str) -> str:
        name = f"{self.name}-nfs{export_path.replace('/', '-')}"
        if not self.client.volumes.list(filters={"name": name}):
            self.client.volumes.create(name, labels=self._labels())
        return name

    def _check_fake_gpus(self, container) -> None:
        """The image's init made this worker's fake GPUs (character devices, no driver)."""
        script = " && ".join(f"test -c /dev/nvidia{i}" for i in range(FAKE_GPUS_PER_WORKER))
        result = container.exec_run(["/bin/sh", "-c", script])
        if result.exit_code != 0:
            raise SandboxError(f"{container.name}: no fake GPUs in /dev: {script} failed")

    def _write_state(self, hosts: list[SandboxHost]) -> None:
        subnet = self.subnet()
        if not self.secrets_path.exists():
            generate_secrets(self.secrets_path)
        self.group_data_dir.mkdir(exist_ok=True)
        for name, text in render_group_data(self, subnet).items():
            (self.group_data_dir / name).write_text(text)
        self.hosts_path.write_text(
            json.dumps(
                {"name": self.name, "subnet": subnet, "hosts": [asdict(h) for h in hosts]},
                indent=2,
            )
            + "\n"
        )
        self.inventory_path.write_text(render_inventory(self, hosts))


def render_inventory(sandbox: Sandbox, hosts: list[SandboxHost]) -> str:
    """A pyinfra inventory that reaches the sandbox over SSH (never `@docker`)."""
    ssh = {
        "ssh_user": "root",
        "ssh_key": str(sandbox.key_path),
        # Throwaway hosts whose keys change with every `up`: no host-key checking here only.
        "ssh_strict_host_key_checking": "no",
        "ssh_known_hosts_file": "/dev/null",
    }
    lines = [
        f"# Generated by `snakepit-sandbox up` for sandbox {sandbox.name!r}. Do not edit:",
        "# it is rewritten on every `up`, and only reaches this sandbox's containers.",
        f"SSH = {ssh!r}",
        "",
    ]
    groups = (("slurm_head", "head"), ("slurm_worker", "worker"), (SANDBOX_PARTITION, "worker"))
    for group, role in groups:
        members = [h for h in hosts if h.role == role]
        lines.append(f"{group} = [")
        for h in members:
            lines.append(f"    ({h.name!r}, {{'ssh_hostname': {h.address!r}, **SSH}}),")
        lines.append("]")
    return "\n".join(lines) + "\n"


def production_storage() -> dict:
    """The storage table of group_data/all.py (the sandbox mirrors its paths)."""
    return runpy.run_path(str(GROUP_DATA / "all.py"))["storage"]


def render_group_data(sandbox: Sandbox, subnet: str) -> dict[str, str]:
    """Overrides on top of the production group_data/ (pyinfra reads this folder after it,
    as it sits beside the generated inventory): only what differs in a container."""
    header = (
        f"# Generated by `snakepit-sandbox up` for sandbox {sandbox.name!r}: overrides on top\n"
        "# of the repository's group_data/, for containers instead of real machines.\n"
        "import runpy\n\n"
        f"__production = runpy.run_path({str(GROUP_DATA / 'all.py')!r})\n\n"
    )
    all_py = header + (
        f"cluster_subnet = {subnet!r}\n"
        f"secrets_file = {str(sandbox.secrets_path)!r}\n"
        "# No NFS in this kernel: a Docker volume per export stands in for the mounts.\n"
        'storage = {**__production["storage"], "mode": "shared-volume"}\n'
        "# A small cache for a small sandbox.\n"
        'proxy = {**__production["proxy"], "cache_size_mib": 2000}\n'
        "# The sandbox's workers are one partition (the others have no hosts here), and its\n"
        "# fake GPUs' model is the one the CUDA tests' stub driver reports.\n"
        f'slurm_partitions = [{{**p, "gpu_type": {STUB_GPU_TYPE!r}}}\n'
        '                    for p in __production["slurm_partitions"]\n'
        f'                    if p["name"] == {SANDBOX_PARTITION!r}]\n'
    )
    partition_py = (
        f"# Generated by `snakepit-sandbox up`: sandbox workers have {FAKE_GPUS_PER_WORKER} fake\n"
        "# GPUs each (character devices, no driver); CPUs and memory come from the facts.\n"
        f'node = {{"gpus": {FAKE_GPUS_PER_WORKER}}}\n'
        "# The sandbox's converge leaves the GPU stack alone: production's driver manifest is\n"
        "# installed by test_cuda_manifest.py on a worker of its own (`cuda`) sandbox.\n"
        "cuda_manifest = None\n"
    )
    return {"all.py": all_py, f"{SANDBOX_PARTITION}.py": partition_py}


def _wait_for_port(address: str, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=2) as conn:
                if conn.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            time.sleep(0.5)
    raise SandboxError(f"sshd on {address}:{port} did not answer in {timeout:.0f}s")


def _natural_key(name: str) -> tuple:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (name.rstrip("0123456789"), int(digits) if digits else 0)
