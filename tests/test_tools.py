"""tools/analyze_model.py and tools/benchmark.py on the unit-test Mask R-CNN and a tiny synthetic set."""
import re

import pytest

from engine_helpers import UNITTEST_CONFIG, load_script, make_tiny_synthetic

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data_opts(tmp_path_factory):
    return make_tiny_synthetic(tmp_path_factory.mktemp("synthetic"), name="tools")


def _row(table, module):
    """The ``#flops`` (or ``#activations``) column of ``module``'s row in an fvcore table, as a number."""
    line = next(line for line in table.splitlines() if line.startswith(f"| {module} "))
    value = line.split("|")[3].strip()
    return float(value[:-1]) * {"K": 1e3, "M": 1e6, "G": 1e9}[value[-1]] if value[-1] in "KMG" else float(value)


def test_analyze_model_counts_on_the_configs_input_size(data_opts):
    results = load_script("tools", "analyze_model.py").main(
        ["--config-file", UNITTEST_CONFIG, "--tasks", "flop", "activation", "parameter", "structure", "-n", "1",
         *data_opts])
    flop, act = results["flop"], results["activation"]
    # the synthetic images are 96 x 96 and MIN_SIZE_TEST is 96: the 7x7 stride-2 stem conv (3 -> 16 channels) sees
    # 96 x 96 and outputs 48 x 48, 48*48*16*3*49 multiply-adds, plus its BatchNorm (2 per output element)
    assert _row(flop, "backbone.bottom_up.stem.conv1") == pytest.approx(48 * 48 * 16 * (3 * 49 + 2), rel=2e-3)
    assert _row(act, "backbone.bottom_up.stem.conv1") == pytest.approx(48 * 48 * 16, rel=2e-3)
    assert "#activations" in act
    total = float(re.search(r"Total GFlops: ([0-9.e+-]+) \+- [0-9.e+-]+ over 1 input\(s\)", flop).group(1))
    assert total * 1e9 == pytest.approx(_row(flop, "model"), rel=0.01)
    assert "counted as 0" in flop and "aten::" in flop  # ops fvcore has no formula for are named, not a crash
    assert "Total Million activations" in act
    assert "| model " in results["parameter"] and "(stem): BasicStem" in results["structure"]


def test_analyze_model_without_datasets_says_so():
    with pytest.raises(SystemExit):
        load_script("tools", "analyze_model.py").main(["--config-file", UNITTEST_CONFIG, "--tasks", "flop",
                                                       "DATASETS.TRAIN", "()", "DATASETS.TEST", "()"])


@pytest.mark.parametrize("task, images_per_iter", [("train", 2), ("eval", 1), ("data", 2)])
def test_benchmark_tasks(data_opts, task, images_per_iter):
    result = load_script("tools", "benchmark.py").main(
        ["--config-file", UNITTEST_CONFIG, "--task", task, "--iters", "3", "--warmup", "1", *data_opts])
    assert result.task == task and result.iters == 3 and result.images == 3 * images_per_iter
    assert result.seconds > 0
    assert re.match(rf"{task}: [0-9.]+ iterations/s \([0-9.]+ s/iter\), [0-9.]+ (images/s|ms/image)",
                    result.summary())
