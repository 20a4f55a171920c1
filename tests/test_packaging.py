"""environment.yml installs what pyproject.toml declares, with the same version ranges."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {_name(r): r.replace(" ", "") for r in data["project"]["dependencies"]}


def _environment_pip() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    for item in env["dependencies"]:
        if isinstance(item, dict) and "pip" in item:
            return [str(r) for r in item["pip"]]
    raise AssertionError("environment.yml has no pip: section")


def test_environment_yml_matches_pyproject_runtime_dependencies() -> None:
    """Every runtime dependency appears in both files with the same specifier."""
    pip = _environment_pip()
    conda = {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-")}
    assert conda == _pyproject()


def test_environment_yml_test_tools_match_the_test_extra() -> None:
    """A test tool environment.yml installs with conda has the test extra's specifier."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extra = {_name(r): r.replace(" ", "") for r in data["project"]["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    tools = [
        d.replace(" ", "")
        for d in env["dependencies"]
        if isinstance(d, str) and not d.startswith(("python", "pip"))
    ]
    assert tools and all(extra.get(_name(tool)) == tool for tool in tools)
    assert "hypothesis" in {_name(tool) for tool in tools}


def test_environment_yml_installs_the_package_itself() -> None:
    assert "-e ." in _environment_pip()


def test_environment_yml_python_matches_requires_python() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert pythons == ["python" + data["project"]["requires-python"]]


def test_console_script_points_at_the_cli() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert data["project"]["scripts"] == {"kmsi": "kmsi_lib.cli:main"}
