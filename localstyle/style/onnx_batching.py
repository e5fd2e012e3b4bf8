"""ONNX sessions and batched image runs shared by the fast style methods (arbitrary, feedforward).

:func:`open_session` / :func:`load_dynamic_session` open onnxruntime sessions (the latter frees the batch
and spatial sizes of a fully convolutional NHWC network); :func:`stylize_in_batches` groups RGB uint8
images by processing shape and runs a network callback on batches of them.
"""
import hashlib
import logging
import os

import numpy as np

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open, cache_dir
from localstyle.utils.image_io import resize_image

logger = logging.getLogger(__name__)
MIN_SIDE = 32  # smaller sides are upscaled before the network (it downsamples by 4 and reflect-pads)


def onnx_providers(device="cpu"):
    """onnxruntime execution providers for a torch-style device string ("cpu", "cuda", "cuda:1") or "auto" (CUDA
    when onnxruntime has its provider, else the CPU, silently)."""
    import onnxruntime as ort

    if str(device).startswith("cuda") or device == "auto":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            index = str(device).partition(":")[2] or "0"
            return [("CUDAExecutionProvider", {"device_id": int(index)}), "CPUExecutionProvider"]
        if device == "auto":
            return ["CPUExecutionProvider"]
        logger.warning("MODEL.DEVICE %s: onnxruntime has no CUDA provider here (onnxruntime-gpu and a GPU), "
                       "using cpu", device)
    return ["CPUExecutionProvider"]


def load_dynamic_session(path, providers=("CPUExecutionProvider",), threads=0):
    """Session of an NHWC ONNX image network with its batch and spatial input sizes made free.

    The relaxed model (see :func:`free_batch_and_size`) is written once into the cache, keyed by the file's
    sha256, so later runs open it directly without importing the onnx package (~0.5 s of start-up).
    """
    if not os.path.isfile(path):
        raise LocalstyleError(f"{path}: ONNX model file not found")
    with open(path, "rb") as f:
        data = f.read()
    cached = os.path.join(cache_dir(), "onnx", f"{hashlib.sha256(data).hexdigest()[:24]}-dynamic.onnx")
    if not os.path.isfile(cached):
        relaxed = free_batch_and_size(data)
        try:
            with atomic_open(cached, "wb") as f:
                f.write(relaxed)
        except OSError:  # a read-only cache: run the relaxed model from memory
            return open_session(relaxed, providers, threads, source=path)
    return open_session(cached, providers, threads, source=path)


def free_batch_and_size(data):
    """Serialized ONNX model ``data`` with constant ``Reshape`` targets ``[1, C, 1, 1]`` made ``[-1, C, 1, 1]``
    (instance-norm moments keep one row per image) and symbolic N, H, W dimensions on every 4-d input and output."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    initializers = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.input[1] in initializers:
            shape = numpy_helper.to_array(initializers[node.input[1]]).copy()
            if shape.ndim == 1 and len(shape) == 4 and shape[0] == 1:
                shape[0] = -1
                initializers[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4:
            for k, symbol in enumerate(("N", "H", "W")):
                dims[k].dim_param = f"{value.name}_{symbol}"
    del model.graph.value_info[:]
    return model.SerializeToString()


def open_session(model, providers=("CPUExecutionProvider",), threads=0, source=None):
    """onnxruntime session of ``model`` (a path or serialized bytes); LocalstyleError naming ``source`` on failure."""
    import onnxruntime as ort

    source = source or model
    if isinstance(model, str) and not os.path.isfile(model):
        raise LocalstyleError(f"{model}: ONNX model file not found")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Idle onnxruntime threads would spin and take CPU from the runner's decoding workers.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    threads = threads or int(os.environ.get("OMP_NUM_THREADS") or 0)  # torchrun / launch split the cores this way
    if threads:
        options.intra_op_num_threads = int(threads)
    try:
        return ort.InferenceSession(model, options, providers=list(providers))
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
        raise LocalstyleError(f"{source}: cannot load ONNX model ({str(e).splitlines()[0]})") from None


def processing_shape(height, width, size):
    """(h, w) at which the network runs: longest side at most ``size`` (0: no limit), shortest at least MIN_SIDE.

    The stylize runner already scales regions so that the whole image would fit ``STYLE.SIZE``; regions
    then pass unchanged, and direct callers with bigger images get them shrunk to ``size``.
    """
    scale = min(1.0, size / max(height, width)) if size else 1.0
    scale = max(scale, MIN_SIDE / min(height, width))
    return max(MIN_SIDE, round(height * scale)), max(MIN_SIDE, round(width * scale))


def stylize_in_batches(contents, size, max_batch, run, channels_first=False):
    """Fit RGB uint8 images to ``size`` (see :func:`processing_shape`), batch equal shapes, run, resize back.

    ``run(batch, indices)`` gets float32 0..1 images (N x H x W x 3, or N x 3 x H x W when
    ``channels_first``), reflect-padded to multiples of 4, and the indices of those images in
    ``contents``; it returns stylized images in the same layout. Returns RGB uint8 images of the
    contents' sizes.
    """
    groups = {}
    for i, image in enumerate(contents):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise LocalstyleError(f"content image {i}: expected H x W x 3 uint8 RGB, got {image.shape} {image.dtype}")
        groups.setdefault(processing_shape(*image.shape[:2], size), []).append(i)
    results = [None] * len(contents)
    for (h, w), indices in groups.items():
        ph, pw = (-h) % 4, (-w) % 4  # the networks downsample by 4: reflect-pad, crop after
        for start in range(0, len(indices), max_batch):
            chunk = indices[start : start + max_batch]
            batch = np.stack([resize_image(contents[i], h, w) for i in chunk]).astype(np.float32) / 255.0
            batch = np.pad(batch, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="reflect")
            if channels_first:
                out = run(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)), chunk).transpose(0, 2, 3, 1)
            else:
                out = run(batch, chunk)
            for i, y in zip(chunk, out[:, :h, :w]):
                y = (np.clip(y, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
                results[i] = resize_image(y, *contents[i].shape[:2])
    return results
