"""The project's metadata installs without warnings from the build backend."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text())


def test_license_is_an_spdx_expression_the_backend_understands() -> None:
    data = _project()
    license_ = data["project"]["license"]
    # A table ({text = …}) is deprecated and makes setuptools warn on every install.
    assert isinstance(license_, str) and license_
    assert not any(c.startswith("License ::") for c in data["project"].get("classifiers", []))
    requires = data["build-system"]["requires"]
    (setuptools,) = [r for r in requires if r.startswith("setuptools")]
    assert int(setuptools.split(">=")[1].split(".")[0]) >= 77  # SPDX strings since 77


def test_editable_install_uses_a_plain_path_entry() -> None:
    # With the repository root as the package directory setuptools writes a .pth file
    # instead of an import finder, and stops warning about same-named folders.
    assert _project()["tool"]["setuptools"]["package-dir"] == {"": "."}
