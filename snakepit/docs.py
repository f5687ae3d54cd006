"""Write docs/data.md from the schema: ``python -m snakepit.docs`` (a unit test fails when the
file in the repository differs from what this renders)."""

from __future__ import annotations

import sys
from pathlib import Path

from snakepit.model import render_docs

DATA_MD = Path(__file__).resolve().parents[1] / "docs" / "data.md"


def main() -> int:
    DATA_MD.write_text(render_docs())
    print(f"wrote {DATA_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
