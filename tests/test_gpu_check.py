"""benchmarks/gpu_check.py: on a machine without CUDA every check is one SKIP line and the summary counts them."""
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU smoke run; the CUDA run is the device check itself")
def test_gpu_check_skips_without_cuda(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_check.py"), "--workdir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    checks = [line for line in lines if line.startswith(("PASS", "FAIL", "SKIP"))]
    assert len(checks) >= 14 and all(line.startswith("SKIP: no CUDA (") for line in checks), lines
    assert lines[-1].startswith(f"gpu_check summary: PASS 0, FAIL 0, SKIP {len(checks)} ")
