#!/usr/bin/env bash
# Check the import contracts ([tool.importlinter] in pyproject.toml) on the package as it installs: the front-end
# folders (cli/, gui/, service/, batch/, candidate_selection/) become xmempp.cli, xmempp.gui, ... only once
# installed, so the contracts are checked on a throw-away non-editable install of this checkout.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
target="$(mktemp -d)"
trap 'rm -rf "$target" "$repo/build"' EXIT
python -m pip install --quiet --no-deps --no-build-isolation --no-compile --target "$target" "$repo"
cd "$target"
PYTHONPATH="$target" lint-imports --config "$repo/pyproject.toml"
