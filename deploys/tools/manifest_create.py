"""Make a manifest: install a metapackage the plain way in a clean host and write down,
exactly, the vendor packages it brought. `python -m tools.cuda create` runs it in a
throwaway container:

    pyinfra @docker/<container> deploys/tools/manifest_create.py -y \\
        --data metapackage=cuda-11-5 \\
        --data source=manifests/sources/nvidia-cuda-ubuntu1804.yaml \\
        --data out=manifests/cuda-11-5.yaml \\
        [--data 'also=["cuda-drivers=470.82.01-1"]']

Steps: refresh apt (and install ca-certificates for an https vendor), trust and prefer
the vendor's repository, record the BOM, ``apt-get
install <metapackage> <also...>`` (no versions: whatever is newest now), record the BOM
again, and write the manifest with the packages whose installed version apt says came from
the vendor's origin, plus both BOMs beside it (``<name>.before.txt``, ``<name>.after.txt``).
"""

import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.operations import python, server

from deploys.tools.options import ManifestCreateOptions
from facts.apt import AptPolicy
from facts.dpkg import DpkgBom
from glue import context
from operations import cuda
from snakepit.cuda.create import bom_file_names, build_manifest
from snakepit.cuda.drift import policy_names
from snakepit.cuda.manifest import dump_manifest, load_source_file, now
from snakepit.cuda.plan import APT_GET
from snakepit.parsers.dpkg import format_dpkg_list

options = context.tool_options(ManifestCreateOptions)
metapackage = options.metapackage
source, target = load_source_file(options.source)
out = Path(options.out).resolve()
also = list(options.also)
boms = bom_file_names(out)


def record_before() -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    (out.parent / boms.before).write_text(format_dpkg_list(host.get_fact(DpkgBom)))


def write_manifest() -> None:
    after = host.get_fact(DpkgBom)
    policies = host.get_fact(AptPolicy, packages=policy_names(after, target.architecture))
    manifest = build_manifest(out, metapackage, source, target, after, policies, now())
    (out.parent / boms.after).write_text(format_dpkg_list(after))
    out.write_text(dump_manifest(manifest))
    host.log(
        f"wrote {out} ({len(manifest.packages)} packages, "
        f"{manifest.metapackage.name} {manifest.metapackage.version})"
    )


server.shell(name="Refresh the distro's package lists", commands=["apt-get update -q"])
if source.url.startswith("https:"):
    # Bare images (ubuntu:18.04) lack the CA certificates apt needs for https.
    server.shell(
        name="Install ca-certificates for the vendor's https repository",
        commands=[f"{APT_GET} install --no-install-recommends ca-certificates"],
    )
cuda.vendor_source(
    name=f"Trust and prefer {source.url}", source=source, architecture=target.architecture
)
python.call(name=f"Record the BOM before {metapackage}", function=record_before)
server.shell(
    name=f"Install {' '.join([metapackage, *also])} the plain way (newest versions)",
    commands=[
        " ".join(
            [
                f"{APT_GET} install --no-install-recommends",
                shlex.quote(metapackage),
                *(shlex.quote(word) for word in also),
            ]
        )
    ],
)
python.call(name=f"Write {out.name} from the vendor packages installed", function=write_manifest)
