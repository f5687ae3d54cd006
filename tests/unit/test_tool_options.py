"""The tool deploys' --data options are schemas too: typed, and unknown options refused."""

from __future__ import annotations

import pytest

from deploys.tools.options import DriftOptions, ManifestCreateOptions, ManifestTestOptions
from snakepit.schema import DataError, validate


def test_create_options_take_a_list_for_also():
    options = validate(
        ManifestCreateOptions,
        {"metapackage": "cuda-11-5", "source": "s.yaml", "out": "m.yaml", "also": ["x=1"]},
    )
    assert options.also == ("x=1",)
    assert validate(ManifestTestOptions, {"manifest": "m.yaml"}).manifest == "m.yaml"
    assert validate(DriftOptions, {"drift_out": "/tmp/d"}).drift_out == "/tmp/d"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"metapackage": "m", "source": "s", "out": "o", "also": "x=1"}, "also: expected list"),
        ({"metapackage": "m", "source": "s"}, "out: is missing"),
        ({"metapackage": "m", "source": "s", "out": "o", "alsoo": []}, "did you mean 'also'"),
    ],
)
def test_bad_create_options_are_refused(data, expected):
    with pytest.raises(DataError, match=expected):
        validate(ManifestCreateOptions, data)
