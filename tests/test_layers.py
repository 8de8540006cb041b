"""The import-linter contracts in pyproject.toml hold, and a wrong arrow between layers breaks them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_assets.settings import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first: grimp must analyse the tree under `root`, not the installed package.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy_of_the_code(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for folder in ("mlops_assets", "feature_repo"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_layer_contracts_hold() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        (
            "mlops_assets/defs/ingestion/late_arrow.py",
            "import mlops_assets.defs.monitoring.assets",
            "Stages import earlier stages only",
        ),
        ("mlops_assets/lakehouse_extra.py", "import mlops_assets.settings", "the platform at the bottom"),
        (
            "mlops_assets/defs/monitoring/loop.py",
            "import mlops_assets.definitions",
            "the platform at the bottom",
        ),
        ("feature_repo/more_features.py", "import mlops_assets.defs.features.assets", "never a stage"),
    ],
)
def test_a_wrong_arrow_breaks_a_contract(tmp_path: Path, module: str, bad_import: str, contract: str) -> None:
    root = _copy_of_the_code(tmp_path)
    (root / module).write_text(f'"""A deliberate layer violation."""\n\n{bad_import}\n')
    result = _lint_imports(root)
    assert result.returncode != 0
    verdicts = " ".join(result.stdout.split())  # lint-imports wraps long contract names
    assert re.search(re.escape(contract) + r"[^.]*? BROKEN", verdicts), result.stdout


def test_a_platform_module_importing_a_stage_breaks_the_layers(tmp_path: Path) -> None:
    root = _copy_of_the_code(tmp_path)
    lakehouse = root / "mlops_assets" / "lakehouse.py"
    lakehouse.write_text(lakehouse.read_text() + "\nimport mlops_assets.defs.features.compute  # noqa\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "mlops_assets.lakehouse -> mlops_assets.defs.features.compute" in result.stdout
