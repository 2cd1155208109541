"""pyproject.toml installs every package of the source tree (a non-editable install, as the Docker images and
`lint-imports` use, would silently leave a forgotten one out)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_installed():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders = setuptools["package-dir"]
    found = set()
    for name, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *relative.parts]))
    missing = sorted(found - set(setuptools["packages"]))
    assert not missing, f"packages missing from [tool.setuptools] packages in pyproject.toml: {missing}"
