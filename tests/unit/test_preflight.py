"""The checks that run before pyinfra connects (glue/preflight.py), without any host."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from glue import loading, preflight
from tests.unit.test_model import TINY_INVENTORY, make_repo


def inventory_of(path: Path, cwd: Path, **override_data):
    with ctx_state.use(State()):
        return make_inventory(str(path), cwd=str(cwd), override_data=override_data)


def test_group_data_syntax_and_repeated_keys_are_one_line_each(tmp_path, capsys):
    (tmp_path / "group_data").mkdir()
    bad = tmp_path / "group_data" / "all.py"
    bad.write_text('proxy = {"port": 8123,\n          "port": 3128}\n')
    with pytest.raises(SystemExit) as exited:
        preflight.check_group_data(["pyinfra", "inventory.py"], tmp_path)
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        "error: group_data/all.py:2: key 'port' appears twice in one mapping (first at line 1; "
        "Python keeps the last)\n"
    )
    bad.write_text("proxy = {\n")
    with pytest.raises(SystemExit):
        preflight.check_group_data(["pyinfra", "inventory.py"], tmp_path)
    assert capsys.readouterr().err.startswith("error: group_data/all.py:1: ")


def test_the_group_data_beside_the_inventory_is_checked_too(tmp_path, capsys):
    (tmp_path / "group_data").mkdir()
    (tmp_path / "site" / "group_data").mkdir(parents=True)
    (tmp_path / "site" / "group_data" / "all.py").write_text("x = {'a': 1, 'a': 2}\n")
    with pytest.raises(SystemExit):
        preflight.check_group_data(["pyinfra", "site/inventory.py", "deploys/site.py"], tmp_path)
    assert "site/group_data/all.py:1: key 'a' appears twice" in capsys.readouterr().err


def test_bad_cluster_data_stops_with_one_line(tmp_path, monkeypatch, capsys):
    inventory_file = make_repo(tmp_path, all_extra='proxy = {"port": "8123"}\n')
    monkeypatch.chdir(tmp_path)
    argv = ["pyinfra", str(inventory_file), "deploys/site.py"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit):
        preflight.check_inventory(inventory_of(inventory_file, tmp_path), argv)
    assert capsys.readouterr().err == (
        "error: group_data/all.py: host h: proxy.port: expected int, got str ('8123')\n"
    )


def test_a_tool_deploys_data_options_are_left_to_it(tmp_path, monkeypatch):
    inventory_file = make_repo(tmp_path)
    (tmp_path / "inventory.py").write_text(TINY_INVENTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loading, "TOOL_KEYS", set())
    inventory = inventory_of(inventory_file, tmp_path, drift_out="/tmp/drift")
    drift = ["pyinfra", str(inventory_file), "deploys/tools/manifest_drift.py", "--dry"]
    monkeypatch.setattr(sys, "argv", drift)
    preflight.check_inventory(inventory, drift)  # drift_out is the drift deploy's option
    monkeypatch.setattr(loading, "TOOL_KEYS", set())
    site = ["pyinfra", str(inventory_file), "deploys/tools/cuda.py"]
    monkeypatch.setattr(sys, "argv", site)
    with pytest.raises(SystemExit):  # and nobody else's
        preflight.check_inventory(inventory, site)


def test_two_manifests_for_one_release_are_refused_with_one_line(tmp_path, monkeypatch, capsys):
    manifest = Path(__file__).resolve().parents[2] / "manifests" / "nvidia-535-debian12.yaml"
    txp = f"cuda_manifest = [{str(manifest)!r}, {str(manifest)!r}]\n"
    inventory_file = make_repo(tmp_path, txp_text=txp)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loading, "TOOL_KEYS", set())
    argv = ["pyinfra", str(inventory_file), "deploys/tools/cuda.py"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit):
        preflight.check_inventory(inventory_of(inventory_file, tmp_path), argv)
    assert capsys.readouterr().err == (
        "error: group_data/txp.py: host w0: cuda_manifest: nvidia-535-debian12 and "
        "nvidia-535-debian12 are both for debian 12 amd64: list one per release\n"
    )
