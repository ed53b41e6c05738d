"""The examples run as a user runs them, from a clean process."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.example
@pytest.mark.timeout(900)
def test_own_training_loop_trains_off_chance():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "own_training_loop.py")],
                         capture_output=True, text=True, timeout=880, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    acc = {m.group(1).strip(): float(m.group(2)) for m in
           re.finditer(r"^\s+(.+?):\s+test accuracy ([0-9.]+)$", out.stdout, re.M)}
    assert set(acc) == {"uncoded SignSGD-MV", next(k for k in acc if k.startswith("Bernoulli"))}
    # ten classes: chance is 0.1; the coded run must train under the attack
    assert acc[next(k for k in acc if k.startswith("Bernoulli"))] >= 0.6, out.stdout
