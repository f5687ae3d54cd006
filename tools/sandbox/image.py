"""The sandbox's base images: Debian with systemd as PID 1 and sshd, built locally, one per
supported release (the same recipe, only the suite differs).

No container registry is reachable from our machines, so the image is made with debootstrap
and `docker import`. The tag is a hash of the recipe below: change the recipe and a new image
is built, leave it alone and the cached one is reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

import docker

# Debian release (VERSION_ID) -> suite; production runs DEFAULT_RELEASE.
SUITES = {"12": "bookworm", "13": "trixie"}
DEFAULT_RELEASE = "12"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
IMAGE_REPOSITORY = "snakepit-sandbox-base"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "sudo",
    "ca-certificates",
    "gnupg",
    "iproute2",
    "procps",
    "util-linux",
    "less",
)

# Units that only make sense on a real machine; masked so `systemctl is-system-running`
# reports `running` rather than `degraded` inside a container.
MASKED_UNITS = (
    "getty@.service",
    "console-getty.service",
    "systemd-udevd.service",
    "systemd-udev-trigger.service",
    "systemd-modules-load.service",
    "systemd-remount-fs.service",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "systemd-firstboot.service",
)

# Every container gets its own SSH host keys on first boot; the image ships none.
HOSTKEYS_UNIT = """\
[Unit]
Description=Generate this container's SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""

# PID 1 of every container: writable cgroup v1 hierarchies, the fake GPUs, then systemd.
# Docker gives a container with its own cgroup namespace (`--cgroupns=private`) read-only
# cgroup mounts; Slurm's cgroup plugins need to create cgroups under each controller. On
# these hosts' cgroup v1 each controller (or group of controllers sharing a hierarchy, as
# cpu,cpuacct may) is mounted again, read-write, at the root of the container's namespace.
# /dev is made afresh at every start, so the GPU device files are made here, not once.
INIT_PATH = "/usr/local/sbin/sandbox-init"
INIT_SCRIPT = """\
#!/bin/sh
set -eu
mount -t tmpfs -o mode=0755,nosuid,nodev,noexec cgroup /sys/fs/cgroup
for hierarchy in $(awk 'NR > 1 && $2 != 0 && $4 == 1 {print $2}' /proc/cgroups | sort -un); do
    controllers=$(awk -v h="$hierarchy" \\
        'NR > 1 && $2 == h {printf "%s%s", sep, $1; sep = ","}' /proc/cgroups)
    mkdir "/sys/fs/cgroup/$controllers"
    mount -t cgroup -o "$controllers" cgroup "/sys/fs/cgroup/$controllers"
    for controller in $(echo "$controllers" | tr , ' '); do
        [ "$controller" = "$controllers" ] || ln -s "$controllers" "/sys/fs/cgroup/$controller"
    done
done
mkdir /sys/fs/cgroup/systemd
mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
# SANDBOX_FAKE_GPUS: the minor numbers of this host's fake GPUs (195:N, no driver behind).
for minor in ${SANDBOX_FAKE_GPUS:-}; do
    [ -c "/dev/nvidia$minor" ] || mknod -m 0666 "/dev/nvidia$minor" c 195 "$minor"
done
exec /sbin/init "$@"
"""

SOURCES_LIST = """\
deb {mirror} {suite} main contrib non-free non-free-firmware
deb {mirror} {suite}-updates main contrib non-free non-free-firmware
deb {security} {suite}-security main contrib non-free non-free-firmware
"""

IMAGE_CHANGES = (
    f'CMD ["{INIT_PATH}"]',
    "ENV container=docker",
)


def suite(release: str) -> str:
    if release not in SUITES:
        raise ValueError(f"no sandbox image for Debian {release} (known: {', '.join(SUITES)})")
    return SUITES[release]


def sources_list(release: str) -> str:
    return SOURCES_LIST.format(mirror=MIRROR, security=SECURITY_MIRROR, suite=suite(release))


def recipe(release: str = DEFAULT_RELEASE) -> dict:
    return {
        "suite": suite(release),
        "mirror": MIRROR,
        "packages": PACKAGES,
        "masked": MASKED_UNITS,
        "hostkeys_unit": HOSTKEYS_UNIT,
        "init": INIT_SCRIPT,
        "sources": sources_list(release),
        "changes": IMAGE_CHANGES,
        "setup": _setup_script(),
    }


def image_tag(release: str = DEFAULT_RELEASE) -> str:
    digest = hashlib.sha256(json.dumps(recipe(release), sort_keys=True).encode()).hexdigest()
    return f"{IMAGE_REPOSITORY}:{digest[:12]}"


def _setup_script() -> str:
    masks = " ".join(shlex.quote(unit) for unit in MASKED_UNITS)
    return f"""\
set -eu
for unit in {masks}; do ln -sf /dev/null "/etc/systemd/system/$unit"; done
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf /etc/systemd/system/sandbox-ssh-hostkeys.service \
    /etc/systemd/system/multi-user.target.wants/sandbox-ssh-hostkeys.service
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/hostname
mkdir -p /root/.ssh && chmod 0700 /root/.ssh
apt-get clean
"""


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build_base_image(
    client: docker.DockerClient, *, release: str = DEFAULT_RELEASE, force: bool = False
) -> str:
    """Build the release's base image unless one with its recipe's tag exists; return the
    tag."""
    tag = image_tag(release)
    if image_exists(client, tag) and not force:
        return tag
    # Sandboxes started side by side (the test suite's xdist workers) build it once: the
    # second waits for the first, then finds the image.
    lock_path = Path(tempfile.gettempdir()) / f"snakepit-image-{tag.replace(':', '-')}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if image_exists(client, tag) and not force:
            return tag
        return _build(release, tag)


def _build(release: str, tag: str) -> str:
    started = time.monotonic()
    print(
        f"sandbox: building Debian {release} base image {tag} with debootstrap (a few minutes)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="snakepit-rootfs-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                suite(release),
                str(root),
                MIRROR,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (root / "etc/apt/sources.list").write_text(sources_list(release))
        (root / "etc/systemd/system/sandbox-ssh-hostkeys.service").write_text(HOSTKEYS_UNIT)
        init = root / INIT_PATH.lstrip("/")
        init.write_text(INIT_SCRIPT)
        init.chmod(0o755)
        subprocess.run(["chroot", str(root), "/bin/sh", "-c", _setup_script()], check=True)
        _import(root, tag)
    print(f"sandbox: base image built in {time.monotonic() - started:.0f}s", flush=True)
    return tag


def _import(root: Path, tag: str) -> None:
    changes = [arg for change in IMAGE_CHANGES for arg in ("--change", change)]
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE
    )
    imported = subprocess.run(
        ["docker", "import", *changes, "-", tag], stdin=tar.stdout, stdout=subprocess.DEVNULL
    )
    tar.stdout.close()
    if tar.wait() != 0 or imported.returncode != 0:
        raise RuntimeError(f"importing the debootstrap root as {tag} failed")


def remove_stale_images(client: docker.DockerClient) -> list[str]:
    """Remove base images built from older recipes; return their tags."""
    keep = {image_tag(release) for release in SUITES}
    removed = []
    for image in client.images.list(name=IMAGE_REPOSITORY):
        for tag in image.tags:
            if tag not in keep:
                client.images.remove(tag)
                removed.append(tag)
    return removed
