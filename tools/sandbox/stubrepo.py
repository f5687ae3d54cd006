"""A vendor-like apt repository for tests: NVIDIA's CUDA repo in shape, stubs in content.

NVIDIA's servers are not reachable from our machines, so the manifest tests install from
this instead. It reproduces what matters to a lock file: the real package **names**
(``cuda-11-5``, ``libcublas-11-5``, ``nsight-compute-2021.3.1``, ``libnvidia-compute-495``
with ``Multi-Arch: same``...), their **versions** (the 11.5.1 set is the one in
``tests/fixtures/dpkg-boms``; the others follow NVIDIA's numbering) and the **dependency
shape**: metapackages depend on ``>=`` versions, so a plain ``apt-get install cuda-11-5``
floats to the newest point release, and driver branches conflict through the virtual
packages they all provide, as Ubuntu's driver packages do. The repository is flat (``deb
URL /``) like NVIDIA's, indexed with ``apt-ftparchive``, signed with a throwaway key made in
an ephemeral GNUPGHOME, and served over HTTP. Every package's description says it is a test
stub; the driver's ``nvidia-smi`` prints a recorded ``nvidia-smi -q -x`` document of an
RTX 2080 Ti host (``tests/fixtures/nvidia-smi``) with the stub's driver version.

``StubRepo.build()`` publishes the ``INITIAL`` point releases; ``publish("11.5.2")`` later
makes the repository gain a newer one (re-index, re-sign), as NVIDIA's does.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from snakepit.cuda.manifest import LocalRepo, ReleaseMatch, Target, VendorSource

REPO_PATH = "cuda/repos/debian12/x86_64/"  # NVIDIA's URL layout, for Debian 12
TARGET = Target(distro="debian", release="12", architecture="amd64")
# Pinned by label alone, as NVIDIA's own pin file does; the Release file also says Origin.
RELEASE = ReleaseMatch(label="NVIDIA CUDA")
KEYRING = "/usr/share/keyrings/cuda-archive-keyring.gpg"  # where NVIDIA's cuda-keyring puts it
SOURCE_NAME = "nvidia-cuda"
STUB_NOTE = (
    "TEST STUB from snakepit's vendor-like test repository: same name, version and\n"
    "dependencies as NVIDIA's package, but it contains no NVIDIA software."
)
NVIDIA_SMI_FIXTURE = "xml-rtx2080ti-x2-driver-410.73.xml"
# A copy of tests/fixtures/nvidia-smi/xml-rtx2080ti-x2-driver-410.73.xml (real output).
FIXTURES = Path(__file__).resolve().parent / "data"
# The GRES type Slurm's NVML plugin names its GPUs ("GeForce RTX 2080 Ti"); the sandbox's
# partition declares it, so its GPUs' model holds without a driver and with this stub.
STUB_GPU_TYPE = "geforce_rtx_2080_ti"


@dataclass(frozen=True)
class Driver:
    branch: str  # "495"
    version: str  # "495.29.05"
    cuda: str  # the CUDA version nvidia-smi reports, "11.5"


@dataclass(frozen=True)
class CudaRelease:
    version: str  # the point release, "11.5.1"
    driver: Driver  # the driver its runtime needs at least
    cudart: str
    nvcc: str
    cublas: str
    npp: str
    cufile: str
    nsight_compute: str  # "2021.3.1.4": the package is nsight-compute-2021.3.1
    demo_suite: str

    @property
    def minor(self) -> str:
        """``"11-5"``, the suffix of the per-release package names."""
        return "-".join(self.version.split(".")[:2])


DRIVERS = {
    "470.57.02": Driver("470", "470.57.02", "11.4"),
    "470.82.01": Driver("470", "470.82.01", "11.4"),
    "495.29.05": Driver("495", "495.29.05", "11.5"),
    "495.46": Driver("495", "495.46", "11.5"),
}
# fmt: off
RELEASES = {
    r.version: r
    for r in (
        #           release   driver (at least)     cudart      nvcc        cublas
        #           npp           cufile      nsight-compute  demo-suite
        CudaRelease("11.4.2", DRIVERS["470.57.02"], "11.4.108", "11.4.120", "11.6.1.51",
                    "11.4.0.90",  "1.0.2.10", "2021.2.2.1",  "11.4.100"),
        CudaRelease("11.4.3", DRIVERS["470.82.01"], "11.4.148", "11.4.152", "11.6.5.2",
                    "11.4.0.110", "1.0.2.10", "2021.2.2.1",  "11.4.100"),
        CudaRelease("11.5.0", DRIVERS["495.29.05"], "11.5.50",  "11.5.50",  "11.7.3.1",
                    "11.5.1.53",  "1.1.0.37", "2021.3.0.13", "11.5.50"),
        # 11.5.1 is the fixture BOM's set (tests/fixtures/dpkg-boms, 2022-01-10).
        CudaRelease("11.5.1", DRIVERS["495.29.05"], "11.5.117", "11.5.119", "11.7.4.6",
                    "11.5.1.107", "1.1.1.25", "2021.3.1.4",  "11.5.50"),
        # Modelled: a later point release with a newer runtime and driver.
        CudaRelease("11.5.2", DRIVERS["495.46"],    "11.5.120", "11.5.121", "11.7.4.6",
                    "11.5.1.107", "1.1.1.25", "2021.3.1.4",  "11.5.50"),
    )
}
# fmt: on
INITIAL = ("11.4.2", "11.4.3", "11.5.0", "11.5.1")
NEWER = "11.5.2"


@dataclass(frozen=True)
class StubPackage:
    name: str
    version: str
    summary: str
    arch: str = "amd64"
    depends: tuple[str, ...] = ()
    virtual: str | None = None  # provided, conflicted and replaced (one branch at a time)
    multi_arch: str | None = None
    files: tuple[tuple[str, str, int], ...] = field(default=(), compare=False)

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version}_{self.arch}.deb"

    def control(self) -> str:
        lines = [
            f"Package: {self.name}",
            f"Version: {self.version}",
            f"Architecture: {self.arch}",
            "Maintainer: snakepit test stubs <stub@snakepit.invalid>",
            "Section: multiverse/devel",
            "Priority: optional",
        ]
        if self.multi_arch:
            lines.append(f"Multi-Arch: {self.multi_arch}")
        if self.depends:
            lines.append("Depends: " + ", ".join(self.depends))
        if self.virtual:
            lines += [f"{f}: {self.virtual}" for f in ("Provides", "Conflicts", "Replaces")]
        note = "\n".join(f" {line}" for line in STUB_NOTE.splitlines())
        lines.append(f"Description: {self.summary} (test stub)\n{note}")
        return "\n".join(lines) + "\n"


def cuda_packages(release: CudaRelease) -> list[StubPackage]:
    m, r = release.minor, release
    nsight = ".".join(r.nsight_compute.split(".")[:3])
    config = [
        f"cuda-toolkit-{m}-config-common",
        "cuda-toolkit-11-config-common",
        "cuda-toolkit-config-common",
    ]
    return [
        StubPackage(
            f"cuda-{m}",
            f"{r.version}-1",
            f"CUDA {r.version[:4]} meta-package",
            depends=(
                f"cuda-runtime-{m} (>= {r.version})",
                f"cuda-toolkit-{m} (>= {r.version})",
                f"cuda-demo-suite-{m} (>= {r.demo_suite})",
            ),
        ),
        StubPackage(
            f"cuda-runtime-{m}",
            f"{r.version}-1",
            "CUDA Runtime meta-package",
            depends=(
                f"cuda-libraries-{m} (>= {r.version})",
                f"cuda-drivers (>= {r.driver.version})",
            ),
        ),
        StubPackage(
            f"cuda-libraries-{m}",
            f"{r.version}-1",
            "CUDA Libraries meta-package",
            depends=(
                f"cuda-cudart-{m} (>= {r.cudart})",
                f"libcublas-{m} (>= {r.cublas})",
                f"libnpp-{m} (>= {r.npp})",
                f"libcufile-{m} (>= {r.cufile})",
            ),
        ),
        StubPackage(
            f"cuda-toolkit-{m}",
            f"{r.version}-1",
            "CUDA Toolkit meta-package",
            depends=(
                f"cuda-libraries-{m} (>= {r.version})",
                f"cuda-nvcc-{m} (>= {r.nvcc})",
                f"cuda-nsight-compute-{m} (>= {r.version})",
                f"gds-tools-{m} (>= {r.cufile})",
            ),
        ),
        StubPackage(
            f"cuda-cudart-{m}",
            f"{r.cudart}-1",
            "CUDA Runtime native Libraries",
            depends=tuple(config),
        ),
        StubPackage(f"cuda-nvcc-{m}", f"{r.nvcc}-1", "CUDA nvcc"),
        StubPackage(f"libcublas-{m}", f"{r.cublas}-1", "CUBLAS native runtime libraries"),
        StubPackage(f"libnpp-{m}", f"{r.npp}-1", "NPP native runtime libraries"),
        StubPackage(f"libcufile-{m}", f"{r.cufile}-1", "Library for GPU Direct Storage"),
        StubPackage(
            f"gds-tools-{m}",
            f"{r.cufile}-1",
            "Tools for GPU Direct Storage",
            depends=(f"libcufile-{m} (>= {r.cufile})",),
        ),
        StubPackage(
            f"cuda-nsight-compute-{m}",
            f"{r.version}-1",
            "NVIDIA Nsight Compute",
            depends=(f"nsight-compute-{nsight}",),
        ),
        StubPackage(f"nsight-compute-{nsight}", f"{r.nsight_compute}-1", "NVIDIA Nsight Compute"),
        StubPackage(f"cuda-demo-suite-{m}", f"{r.demo_suite}-1", "Demo suite for CUDA"),
        *(
            StubPackage(name, f"{r.cudart}-1", "Common config package for CUDA Toolkit", arch="all")
            for name in config
        ),
    ]


# The real nvidia-smi's answer when no kernel module is loaded (exit status 9).
NO_DRIVER_MESSAGE = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)
# A container cannot load a kernel module: "loading the driver" here is making the device
# file of each GPU asked for (`-c MINOR`), which the worker's device rules allow; the real
# nvidia-modprobe loads nvidia.ko and makes the same files.
MODPROBE_SCRIPT = """\
#!/bin/sh
# TEST STUB of nvidia-modprobe (snakepit's vendor-like test repository): no kernel module
# in a container; it makes /dev/nvidia<MINOR> for each -c MINOR, as the real one does.
set -eu
while [ $# -gt 0 ]; do
    case "$1" in
        -c) minor=$2; shift ;;
        -c=*|--create-nvidia-device-file=*) minor=${1#*=} ;;
        *) minor= ;;
    esac
    shift
    case "${minor:-}" in
        ''|*[!0-9]*) ;;
        *) [ -c "/dev/nvidia$minor" ] || mknod -m 0666 "/dev/nvidia$minor" c 195 "$minor" ;;
    esac
done
"""


def driver_packages(driver: Driver, nvidia_smi_xml: str) -> list[StubPackage]:
    b, v = driver.branch, driver.version
    rev = f"{v}-0ubuntu1"
    share = f"/usr/share/nvidia-utils-{b}-stub"
    script = (
        "#!/bin/sh\n"
        "# TEST STUB of nvidia-smi (snakepit's vendor-like test repository): it prints a\n"
        "# recorded `nvidia-smi -q -x` document with this package's driver version, once\n"
        "# the driver is loaded: no GPU device file (the stub nvidia-modprobe makes them)\n"
        "# is the real nvidia-smi's answer without the kernel module.\n"
        "if ! ls /dev/nvidia[0-9]* >/dev/null 2>&1; then\n"
        f"  echo {shlex.quote(NO_DRIVER_MESSAGE)}\n"
        "  exit 9\n"
        "fi\n"
        'case " $* " in\n'
        f'  *" -x "*|*" --xml-format "*) cat {share}/nvidia-smi-q-x.xml ;;\n'
        '  *" -L "*|*" --list-gpus "*)\n'
        '    echo "GPU 0: GeForce RTX 2080 Ti (UUID: GPU-57567e11-0be2-381b-5132-2ad95c262e58)"\n'
        '    echo "GPU 1: GeForce RTX 2080 Ti (UUID: GPU-ef1d0068-5bfd-f1e4-7e79-ff35d71d44b8)"'
        " ;;\n"
        f'  *) echo "NVIDIA-SMI {v}  Driver Version: {v}  CUDA Version: {driver.cuda}"'
        " ;;\n"
        "esac\n"
    )
    return [
        StubPackage(
            "cuda-drivers",
            f"{v}-1",
            "CUDA Driver meta-package, branch-agnostic",
            depends=(f"cuda-drivers-{b} (>= {v})",),
        ),
        StubPackage(
            f"cuda-drivers-{b}",
            f"{v}-1",
            "CUDA Driver meta-package, branch-specific",
            depends=(f"nvidia-driver-{b} (>= {v})", f"nvidia-modprobe (>= {v})"),
        ),
        StubPackage(
            f"nvidia-driver-{b}",
            rev,
            "NVIDIA driver metapackage",
            depends=(
                f"nvidia-utils-{b} (>= {v})",
                f"libnvidia-compute-{b} (>= {v})",
                f"nvidia-kernel-common-{b} (>= {v})",
                f"nvidia-compute-utils-{b} (>= {v})",
            ),
            virtual="nvidia-driver-binary",
        ),
        StubPackage(
            f"nvidia-utils-{b}",
            rev,
            "NVIDIA driver support binaries (nvidia-smi)",
            virtual="nvidia-utils",
            files=(
                ("usr/bin/nvidia-smi", script, 0o755),
                (f"{share.lstrip('/')}/nvidia-smi-q-x.xml", nvidia_smi_xml, 0o644),
            ),
        ),
        StubPackage(
            f"libnvidia-compute-{b}",
            rev,
            "NVIDIA libcompute package",
            virtual="libnvidia-compute",
            multi_arch="same",
        ),
        StubPackage(
            f"nvidia-kernel-common-{b}",
            rev,
            "Shared files used with the kernel module",
            virtual="nvidia-kernel-common",
        ),
        # libnuma1 stands for the distro libraries the real packages pull in: it comes from
        # Debian's archive, so `create` must leave it out of the manifest by its origin.
        StubPackage(
            f"nvidia-compute-utils-{b}",
            rev,
            "NVIDIA compute utilities",
            depends=("libnuma1",),
            virtual="nvidia-compute-utils",
        ),
        StubPackage(
            "nvidia-modprobe",
            rev,
            "Load the NVIDIA kernel driver and create device files",
            files=(("usr/bin/nvidia-modprobe", MODPROBE_SCRIPT, 0o755),),
        ),
    ]


def nvidia_smi_document(driver: Driver) -> str:
    text = (FIXTURES / NVIDIA_SMI_FIXTURE).read_text()
    text = text.replace(
        "<driver_version>410.73</driver_version>",
        f"<driver_version>{driver.version}</driver_version>",
    )
    return text.replace(
        "<cuda_version>10.0</cuda_version>", f"<cuda_version>{driver.cuda}</cuda_version>"
    )


def release_packages(version: str) -> list[StubPackage]:
    release = RELEASES[version]
    return cuda_packages(release) + driver_packages(
        release.driver, nvidia_smi_document(release.driver)
    )


# A package whose postinst always fails: what a broken vendor update does to a rollout.
# Published only on demand (``StubRepo.publish_failing``); no metapackage depends on it.
FAILING_POSTINST = StubPackage(
    "snakepit-stub-failing-postinst",
    "1.0-1",
    "a package whose postinst fails on purpose",
    files=(
        (
            "DEBIAN/postinst",
            "#!/bin/sh\necho 'snakepit-stub-failing-postinst: fails on purpose' >&2\nexit 1\n",
            0o755,
        ),
    ),
)


# NVIDIA's cuDNN local repository, as the Puppet project pinned it
# (install_libcudnn.pp): a .deb on shared storage that unpacks a signed flat repository.
CUDNN_VERSION = "8.3.2.44-1+cuda11.5"
CUDNN_REPO = "cudnn-local-repo-debian12-8.3.2.44"
CUDNN_DEB = f"{CUDNN_REPO}_1.0-1_amd64.deb"
CUDNN_DIRECTORY = f"/var/{CUDNN_REPO}"
CUDNN_KEYRING = f"/usr/share/keyrings/{CUDNN_REPO}-keyring.gpg"
CUDNN_RELEASE = ReleaseMatch(label="NVIDIA cuDNN local repository")


def cudnn_packages() -> list[StubPackage]:
    """libcudnn8, -dev and -samples, each depending on the one before at the same version."""
    names = ("libcudnn8", "libcudnn8-dev", "libcudnn8-samples")
    summaries = ("cuDNN runtime libraries", "cuDNN development files", "cuDNN samples")
    return [
        StubPackage(
            name,
            CUDNN_VERSION,
            summary,
            depends=(f"{names[i - 1]} (= {CUDNN_VERSION})",) if i else (),
        )
        for i, (name, summary) in enumerate(zip(names, summaries, strict=True))
    ]


class StubRepoError(RuntimeError):
    pass


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class StubRepo:
    """Build, sign and serve the stub repository under ``root`` (a scratch directory).

    Use as a context manager, or call ``close()``: that stops the server and deletes the
    signing key.
    """

    def __init__(self, root: Path | None = None) -> None:
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="snakepit-stubrepo-")
        self.root = Path(root or self._tmp.name)
        self.www = self.root / "www"
        self.repo = self.www / REPO_PATH
        self.gnupg = self.root / "gnupg"
        self.fingerprint: str | None = None
        self.cudnn_fingerprint: str | None = None
        self.published: list[str] = []
        self._packages: dict[tuple[str, str, str], StubPackage] = {}
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StubRepo:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- building ------------------------------------------------------------------------
    def build(self, releases: tuple[str, ...] = INITIAL) -> StubRepo:
        self.repo.mkdir(parents=True, exist_ok=True)
        self._make_key()
        for version in releases:
            self._add(version)
        self._index()
        return self

    def publish(self, version: str) -> None:
        """The repository gains a point release: new packages, re-indexed, re-signed."""
        self._add(version)
        self._index()

    def publish_failing(self) -> StubPackage:
        """The repository gains ``FAILING_POSTINST`` (re-indexed, re-signed)."""
        key = (FAILING_POSTINST.name, FAILING_POSTINST.version, FAILING_POSTINST.arch)
        if key not in self._packages:
            with tempfile.TemporaryDirectory(prefix="stubdeb-") as scratch:
                self._build_deb(FAILING_POSTINST, Path(scratch) / FAILING_POSTINST.filename)
            self._packages[key] = FAILING_POSTINST
            self._index()
        return FAILING_POSTINST

    def _add(self, version: str) -> None:
        if version not in RELEASES:
            raise StubRepoError(f"no stub point release {version!r} (known: {list(RELEASES)})")
        with tempfile.TemporaryDirectory(prefix="stubdeb-") as scratch:
            for package in release_packages(version):
                key = (package.name, package.version, package.arch)
                seen = self._packages.get(key)
                if seen is not None:
                    if seen.control() != package.control():
                        raise StubRepoError(f"two different stubs of {key}")
                    continue
                self._build_deb(package, Path(scratch) / package.filename)
                self._packages[key] = package
        self.published.append(version)

    def _build_deb(self, package: StubPackage, tree: Path) -> None:
        (tree / "DEBIAN").mkdir(parents=True)
        (tree / "DEBIAN" / "control").write_text(package.control())
        doc = tree / "usr/share/doc" / package.name
        doc.mkdir(parents=True)
        (doc / "README.stub").write_text(STUB_NOTE + "\n")
        for path, content, mode in package.files:
            target = tree / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            target.chmod(mode)
        _run(
            [
                "dpkg-deb",
                "--root-owner-group",
                "-Zgzip",
                "-z1",
                "--build",
                str(tree),
                str(self.repo / package.filename),
            ]
        )

    def _make_key(self) -> None:
        self.fingerprint, armored = _make_key(self.gnupg, "CUDA")
        (self.repo / self.key_filename).write_text(armored)

    @property
    def key_filename(self) -> str:
        """Named like NVIDIA's (``3bf863cc.pub``): the last 8 hex digits, lower case."""
        assert self.fingerprint is not None
        return f"{self.fingerprint[-8:].lower()}.pub"

    def _index(self) -> None:
        _index_and_sign(
            self.repo, "NVIDIA", RELEASE.label, "Test stub of NVIDIA's CUDA repository",
            self.gnupg, self.fingerprint,
        )  # fmt: skip

    def build_local_repo(self, out: Path) -> Path:
        """NVIDIA's cuDNN local-repository ``.deb`` in shape (written into ``out``): it
        installs a flat repository of the cuDNN stubs under ``CUDNN_DIRECTORY``, signed by a
        throwaway key of its own, which lies beside the index. Returns the .deb's path."""
        gnupg = self.root / "gnupg-cudnn"
        self.cudnn_fingerprint, armored = _make_key(gnupg, "cuDNN local")
        with tempfile.TemporaryDirectory(prefix="stublocal-") as scratch:
            tree = Path(scratch) / CUDNN_REPO
            repo = tree / CUDNN_DIRECTORY.lstrip("/")
            repo.mkdir(parents=True)
            builder = StubRepo.__new__(StubRepo)
            builder.repo = repo
            for package in cudnn_packages():
                builder._build_deb(package, Path(scratch) / package.filename)
            (repo / self.cudnn_key_filename).write_text(armored)
            _index_and_sign(
                repo, "NVIDIA", CUDNN_RELEASE.label, "Test stub of NVIDIA's cuDNN local repository",
                gnupg, self.cudnn_fingerprint,
            )  # fmt: skip
            control = StubPackage(
                CUDNN_REPO, "1.0-1", "cuDNN local repository (a file: apt repository)"
            ).control()
            (tree / "DEBIAN").mkdir()
            (tree / "DEBIAN" / "control").write_text(control)
            out.mkdir(parents=True, exist_ok=True)
            deb = out / CUDNN_DEB
            _run(
                ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(tree), str(deb)]
            )
        shutil.rmtree(gnupg, ignore_errors=True)
        return deb

    @property
    def cudnn_key_filename(self) -> str:
        return f"{self.cudnn_fingerprint[-8:].lower()}.pub"

    def local_source(self, deb: str) -> VendorSource:
        """The source of the cuDNN local repository, its .deb at ``deb`` on the hosts."""
        return VendorSource(
            name="nvidia-cudnn-local",
            url=f"file:{CUDNN_DIRECTORY}",
            suite="/",
            components=(),
            key_url=None,
            key_fingerprint=self.cudnn_fingerprint,
            keyring=CUDNN_KEYRING,
            release=CUDNN_RELEASE,
            pin_priority=600,
            local_repo=LocalRepo(deb=deb, directory=CUDNN_DIRECTORY, key=self.cudnn_key_filename),
        )

    def package_count(self) -> int:
        return len(self._packages)

    # -- serving -------------------------------------------------------------------------
    def serve(self, address: str, port: int = 0) -> str:
        """Serve over HTTP on ``address`` from a background thread; return the repo URL."""
        if self._server is None:
            handler = functools.partial(_QuietHandler, directory=str(self.www))
            self._server = http.server.ThreadingHTTPServer((address, port), handler)
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="stubrepo", daemon=True
            )
            self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise StubRepoError("the stub repository is not being served")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{REPO_PATH}"

    def source(self) -> VendorSource:
        """The source a manifest made from this repository points at."""
        assert self.fingerprint is not None
        return VendorSource(
            name=SOURCE_NAME,
            url=self.url,
            suite="/",
            components=(),
            key_url=self.url + self.key_filename,
            key_fingerprint=self.fingerprint,
            keyring=KEYRING,
            release=RELEASE,
            pin_priority=600,
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
        else:
            shutil.rmtree(self.gnupg, ignore_errors=True)


def _make_key(gnupg: Path, what: str) -> tuple[str, str]:
    """A throwaway signing key in its own GNUPGHOME: (fingerprint, armored public key)."""
    gnupg.mkdir(mode=0o700, exist_ok=True)
    user = f"snakepit {what} stub repository (throwaway test key) <stub@snakepit.invalid>"
    _run(
        ["gpg", "--batch", "--passphrase", "", "--quick-generate-key", user, "ed25519", "sign",
         "never"],
        gnupghome=gnupg,
    )  # fmt: skip
    listing = _run(["gpg", "--batch", "--with-colons", "--list-secret-keys"], gnupghome=gnupg)
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
    )
    armored = _run(["gpg", "--batch", "--armor", "--export", fingerprint], gnupghome=gnupg)
    return fingerprint, armored


def _index_and_sign(
    repo: Path, origin: str, label: str, description: str, gnupg: Path, fingerprint: str | None
) -> None:
    """Index a flat repository (apt-ftparchive) and sign its Release file both ways."""
    packages = _run(["apt-ftparchive", "packages", "."], cwd=repo)
    (repo / "Packages").write_text(packages)
    (repo / "Packages.gz").write_bytes(gzip.compress(packages.encode(), mtime=0))
    options = {
        "Origin": origin,
        "Label": label,
        "Architectures": "amd64 all",
        "Description": f"{description} (snakepit tests)",
    }
    args = [f"-oAPT::FTPArchive::Release::{key}={value}" for key, value in options.items()]
    release = _run(["apt-ftparchive", *args, "release", "."], cwd=repo)
    for name in ("Release", "InRelease", "Release.gpg"):
        (repo / name).unlink(missing_ok=True)
    (repo / "Release").write_text(release)
    assert fingerprint is not None
    sign = ["gpg", "--batch", "--yes", "--local-user", fingerprint, "--digest-algo", "SHA512"]
    _run([*sign, "--clearsign", "-o", "InRelease", "Release"], cwd=repo, gnupghome=gnupg)
    _run(
        [*sign, "--armor", "--detach-sign", "-o", "Release.gpg", "Release"],
        cwd=repo,
        gnupghome=gnupg,
    )


def _run(argv: list[str], cwd: Path | None = None, gnupghome: Path | None = None) -> str:
    env = None if gnupghome is None else {**os.environ, "GNUPGHOME": str(gnupghome)}
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StubRepoError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout
