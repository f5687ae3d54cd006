"""Read-only: compare every host with the manifest its data names and write the drift as
JSON, one file per host, into ``--data drift_out=DIR``. It has no operations, so it changes
nothing; `python -m tools.cuda drift` also runs it with ``--dry``:

    pyinfra INVENTORY deploys/tools/manifest_drift.py --dry --data drift_out=/tmp/drift \\
        [--data cuda_manifest=manifests/cuda-11-5.yaml]

Hosts whose ``cuda_manifest`` is unset are reported as skipped.
"""

import hashlib
import json
from pathlib import Path

from pyinfra import host

from deploys.tools.options import DriftOptions
from glue import context
from operations.cuda import read_drift

out = context.tool_options(DriftOptions).drift_out
record: dict[str, object] = {"host": host.name}
manifest = context.cuda_manifest() if context.is_worker() else None
if manifest is None:
    record["skipped"] = "no cuda_manifest in its data"
else:
    record["drift"] = read_drift(manifest).to_json()
name = hashlib.sha256(host.name.encode()).hexdigest()[:16]
(Path(out) / f"{name}.json").write_text(json.dumps(record))
