"""Settings read once from the environment (config/settings.py): bad values stop start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("value", "starts"), [("20", True), ("21", False), ("0", False)]
)
def test_back_to_origin_max_rules_may_be_raised_up_to_20(value, starts, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATA_DIR": str(tmp_path),
            "BACK_TO_ORIGIN_MAX_RULES": value,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (result.returncode == 0) is starts
    if not starts:
        assert "BACK_TO_ORIGIN_MAX_RULES must be from 1 to 20" in result.stderr
