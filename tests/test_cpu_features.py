"""MODEL.PRECISION bf16 on a CPU without native bf16 warns once that it will be slower than fp32; the detection reads
the instruction-set flags of /proc/cpuinfo (injected here as flag sets and a cpuinfo file)."""
import logging

import pytest

from engine_helpers import thin_r50_cfg
from localstyle.export.runtimes import build_runtime
from localstyle.utils import cpu_features
from localstyle.utils.cpu_features import cpu_flags, precision_support, slow_precision_message

AVX2_ONLY = frozenset({"fpu", "sse4_2", "avx", "avx2", "fma"})
SAPPHIRE_RAPIDS = AVX2_ONLY | {"avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"}


def test_precision_support_from_flags():
    assert precision_support("bf16", AVX2_ONLY) == "emulated" and precision_support("int8", AVX2_ONLY) == "emulated"
    assert precision_support("bf16", SAPPHIRE_RAPIDS) == "native" == precision_support("int8", SAPPHIRE_RAPIDS)
    assert precision_support("int8", AVX2_ONLY | {"avx_vnni"}) == "native"  # Alder Lake's VEX VNNI
    assert precision_support("bf16", AVX2_ONLY | {"amx_bf16"}) == "native"
    assert precision_support("fp32", frozenset()) == "native"
    assert "slower than fp32" in slow_precision_message("bf16", AVX2_ONLY)
    assert slow_precision_message("bf16", SAPPHIRE_RAPIDS) is None and slow_precision_message("fp32", AVX2_ONLY) is None


def test_cpu_flags_reads_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n"
                    "flags\t\t: fpu\n")
    assert cpu_flags(str(info)) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("runtime", ["eager", "openvino"])
def test_bf16_warns_once_without_native_bf16(runtime, monkeypatch, caplog):
    monkeypatch.setattr(cpu_features, "cpu_flags", lambda cpuinfo="/proc/cpuinfo": AVX2_ONLY)
    cpu_features.warn_slow_precision.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                build_runtime(thin_r50_cfg("thin_r50_fpn.pth", 0.05, "MODEL.RUNTIME", runtime, "MODEL.PRECISION",
                                           "bf16"))
            build_runtime(thin_r50_cfg("thin_r50_fpn.pth", 0.05, "MODEL.RUNTIME", runtime))
    finally:
        cpu_features.warn_slow_precision.cache_clear()
    lines = [r.getMessage() for r in caplog.records if "slower than fp32" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("MODEL.PRECISION bf16")
