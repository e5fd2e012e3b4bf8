"""Whether this CPU runs a reduced precision natively, from the instruction-set flags in /proc/cpuinfo."""
import functools
import logging

logger = logging.getLogger(__name__)

# precision -> instruction-set flags of which any one makes it native (else oneDNN/OpenVINO emulate it)
NATIVE_FLAGS = {"bf16": ("avx512_bf16", "amx_bf16"), "int8": ("avx512_vnni", "avx_vnni", "amx_int8"),
                "fp16": ("avx512_fp16", "amx_fp16")}


@functools.lru_cache(maxsize=None)
def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The first ``flags`` line of ``cpuinfo`` as a frozenset; None where it cannot be read (not Linux)."""
    try:
        with open(cpuinfo) as f:
            line = next((line for line in f if line.startswith("flags")), None)
    except OSError:
        return None
    return frozenset(line.split(":", 1)[1].split()) if line else None


def precision_support(precision, flags=None):
    """"native", "emulated" or "unknown" (flags unreadable) for ``precision`` on a CPU with ``flags`` (default:
    this CPU's); fp32 is always native."""
    flags = cpu_flags() if flags is None else flags
    if precision not in NATIVE_FLAGS:
        return "native"
    if flags is None:
        return "unknown"
    return "native" if any(f in flags for f in NATIVE_FLAGS[precision]) else "emulated"


def slow_precision_message(precision, flags=None):
    """The one-line warning for a bf16 run on a CPU without native bf16 (None otherwise)."""
    if precision != "bf16" or precision_support(precision, flags) != "emulated":
        return None
    return (f"MODEL.PRECISION bf16: this CPU has no native bf16 ({'/'.join(NATIVE_FLAGS['bf16'])} missing from "
            f"/proc/cpuinfo flags), so bf16 is emulated and will be slower than fp32; use MODEL.PRECISION fp32")


@functools.lru_cache(maxsize=None)
def warn_slow_precision(precision):
    """Log :func:`slow_precision_message` for this CPU, once per process and precision."""
    message = slow_precision_message(precision)
    if message:
        logger.warning(message)
    return message
