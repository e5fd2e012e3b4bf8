"""Model weights in and out: detectron2 .pth/.pkl, Caffe2/MSRA backbones, torchvision weights, URLs; export.

``MODEL.WEIGHTS`` may be
* a local ``.pth`` (``{"model": state_dict}``, a bare state_dict, or a localstyle training checkpoint
  ``{"model", "optimizer", "scheduler", "iteration"}``) or a detectron2 model-zoo ``.pkl`` (numpy arrays);
* a Caffe2/MSRA ``.pkl`` such as ``ImageNetPretrained/MSRA/R-50.pkl`` (names like ``res2_0_branch2a_w``);
* ``detectron2://<path>`` (https://dl.fbaipublicfiles.com/detectron2/<path>) or any ``http(s)://`` URL, cached in
  ``$LOCALSTYLE_CACHE`` (default ``~/.cache/localstyle``);
* a torchvision weights name, e.g. ``MaskRCNN_ResNet50_FPN_Weights.COCO_V1`` or ``ResNet50_Weights.IMAGENET1K_V1``
  (these need ``MODEL.RESNETS.STRIDE_IN_1X1 False`` and torchvision's RGB pixel normalization).
Shape-mismatched tensors (e.g. an 80-class head into a 1-class model) are skipped, logged and reported; those
parameters keep the fresh initialization from ``build_model``.
"""
import logging
import os
import re
import urllib.parse

import numpy as np
import torch

from localstyle.config.keys import pop_keys
from localstyle.utils.device import resolve_device
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open, atomic_torch_save, cache_dir
from localstyle.utils.safe_pickle import load_weights_file

logger = logging.getLogger(__name__)

D2_URL_PREFIX = "https://dl.fbaipublicfiles.com/detectron2/"
# Sections and keys that only localstyle knows; dropped from exported detectron2 configs.
LOCALSTYLE_ONLY_KEYS = ("STYLE", "MASKS", "STYLIZE", "FEEDFORWARD", "DATASETS.REGISTER_COCO", "DATASETS.CLASSES",
                        "MODEL.WEIGHTS_TRUSTED", "MODEL.RESNETS.RES4_DILATION", "MODEL.SEM_SEG_HEAD.ASPP_CHANNELS",
                        "MODEL.SEM_SEG_HEAD.ASPP_DILATIONS", "MODEL.SEM_SEG_HEAD.AUX_LOSS_WEIGHT",
                        "MODEL.SEM_SEG_HEAD.CLASSES")
# The 80 COCO category ids in order: detectron2's contiguous class k is torchvision's label COCO_IDS[k].
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
TORCHVISION_PIXEL_MEAN = [123.675, 116.28, 103.53]
TORCHVISION_PIXEL_STD = [58.395, 57.12, 57.375]
_TV_WEIGHTS_NAME = re.compile(r"^[A-Za-z0-9_]+_Weights\.[A-Za-z0-9_]+$")


def download(url):
    """Return the cached local copy of ``url``, downloading it first if needed; offline -> LocalstyleError."""
    parsed = urllib.parse.urlparse(url)
    dst = os.path.join(cache_dir(), "weights", parsed.netloc, parsed.path.lstrip("/"))
    if os.path.isfile(dst):
        return dst
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    logger.info("Downloading %s to %s", url, dst)
    try:
        torch.hub.download_url_to_file(url, dst, progress=True)
    except Exception as e:  # URLError, HTTPError, socket errors: all mean "not available here"
        reason = str(getattr(e, "reason", e)).splitlines()[0] if str(e) else type(e).__name__
        raise LocalstyleError(f"cannot download {url} ({reason}); download it where there is internet access "
                              f"and set MODEL.WEIGHTS to the local file path") from None
    return dst


def resolve_weights(spec):
    """Local file path for ``spec`` (path, detectron2:// or http(s):// URL, or torchvision weights name)."""
    if spec.startswith("detectron2://"):
        return download(D2_URL_PREFIX + spec[len("detectron2://"):])
    if spec.startswith(("http://", "https://")):
        return download(spec)
    if _TV_WEIGHTS_NAME.match(spec) and not os.path.exists(spec):
        import torchvision

        try:
            weights = torchvision.models.get_weight(spec)
        except (ValueError, KeyError, AttributeError):
            raise LocalstyleError(f"MODEL.WEIGHTS {spec!r}: not a known torchvision weights name") from None
        return download(weights.url)
    path = os.path.expanduser(spec)
    if not os.path.isfile(path):
        raise LocalstyleError(f"MODEL.WEIGHTS {spec}: file not found")
    return path


def _to_tensor(v):
    return torch.as_tensor(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v


def read_checkpoint(path, trusted=False):
    """Read a weights file into ``(state_dict of tensors, fmt)``; nothing in it runs unless ``trusted``.

    ``fmt``: ``detectron2`` (names as ours), ``detectron2_heuristics`` (names to match by suffix), ``caffe2``,
    ``torchvision`` (Mask R-CNN), ``torchvision_deeplabv3``, ``torchvision_resnet`` or ``torchvision_d2`` (a
    torchvision ResNet converted to detectron2 names by detectron2's script).
    """
    heuristics = False
    data = load_weights_file(path, trusted, label="MODEL.WEIGHTS ", trust_key="MODEL.WEIGHTS_TRUSTED")
    if not isinstance(data, dict):
        raise LocalstyleError(f"MODEL.WEIGHTS {path}: not a checkpoint (got {type(data).__name__})")
    author = data.get("__author__") if isinstance(data.get("__author__"), str) else None
    if "model" in data and isinstance(data["model"], dict):
        heuristics = bool(data.get("matching_heuristics", False))
        if path.endswith(".pkl") and "__author__" not in data:
            heuristics = True
        sd = data["model"]
    else:
        sd = data.get("blobs", data) if path.endswith(".pkl") else data.get("state_dict", data)
        heuristics = path.endswith(".pkl")
    sd = {k: _to_tensor(v) for k, v in sd.items() if not k.endswith("_momentum") and k != "lr"}
    sd = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    keys = set(sd)
    if "classifier.0.convs.0.0.weight" in keys and "backbone.conv1.weight" in keys:
        return sd, "torchvision_deeplabv3"
    if any(k.startswith("backbone.body.") for k in keys):
        return sd, "torchvision"
    if "layer1.0.conv1.weight" in keys and "conv1.weight" in keys:
        return sd, "torchvision_resnet"
    if any(re.match(r"^res\d_\d+_branch", k) for k in keys) or "conv1_w" in keys:
        return sd, "caffe2"
    if heuristics:
        # detectron2's convert-torchvision-to-d2.py output (ImageNetPretrained/torchvision/R-50.pkl)
        return sd, "torchvision_d2" if author == "torchvision" else "detectron2_heuristics"
    return sd, "detectron2"


def convert_c2_names(sd):
    """Caffe2/MSRA ResNet blob names -> detectron2 names (detectron2's ``convert_basic_c2_names`` rules)."""
    out = {}
    for key, value in sd.items():
        k = {"pred_b": "linear_b", "pred_w": "linear_w"}.get(key, key).replace("_", ".")
        k = re.sub(r"\.b$", ".bias", k)
        k = re.sub(r"\.w$", ".weight", k)
        for pat, rep in ((r"bn\.s$", "norm.weight"), (r"bn\.bias$", "norm.bias"), (r"bn\.rm$", "norm.running_mean"),
                         (r"bn\.running\.mean$", "norm.running_mean"), (r"bn\.riv$", "norm.running_var"),
                         (r"bn\.running\.var$", "norm.running_var"), (r"bn\.gamma$", "norm.weight"),
                         (r"bn\.beta$", "norm.bias"), (r"gn\.s$", "norm.weight"), (r"gn\.bias$", "norm.bias")):
            k = re.sub(pat, rep, k)
        k = re.sub(r"^res\.conv1\.norm\.", "conv1.norm.", k)
        k = re.sub(r"^conv1\.", "stem.conv1.", k)
        k = k.replace(".branch1.", ".shortcut.").replace(".branch2a.", ".conv1.")
        k = k.replace(".branch2b.", ".conv2.").replace(".branch2c.", ".conv3.")
        out[k] = value
    return out


def _tv_resnet_key(k):
    """torchvision ResNet key -> detectron2 bottom-up key (None for the classifier and BN counters)."""
    if k.startswith("fc.") or k.endswith("num_batches_tracked"):
        return None
    k = re.sub(r"^conv1\.", "stem.conv1.", k)
    k = re.sub(r"^bn1\.", "stem.conv1.norm.", k)
    m = re.match(r"^layer(\d)\.(\d+)\.(.*)$", k)
    if m:
        rest = re.sub(r"^bn(\d)\.", r"conv\1.norm.", m.group(3))
        rest = rest.replace("downsample.0.", "shortcut.").replace("downsample.1.", "shortcut.norm.")
        k = f"res{int(m.group(1)) + 1}.{m.group(2)}.{rest}"
    return k


def _class_rows(n_rows):
    """torchvision class indices, in detectron2 order, for a predictor with ``n_rows`` classes (incl. background)."""
    return COCO_IDS if n_rows == 91 else list(range(1, n_rows))


def convert_torchvision_names(sd, fmt):
    """torchvision ResNet / Mask R-CNN state_dict -> detectron2 names and class layout (background last)."""
    out = {}
    for key, v in sd.items():
        if fmt == "torchvision_resnet":
            k = _tv_resnet_key(key)
            if k is not None:
                out["backbone.bottom_up." + k] = v
            continue
        if key.startswith("backbone.body."):
            k = _tv_resnet_key(key[len("backbone.body."):])
            if k is not None:
                out["backbone.bottom_up." + k] = v
            continue
        m = re.match(r"^backbone\.fpn\.(inner|layer)_blocks\.(\d)\.(?:0\.)?(weight|bias)$", key)
        if m:
            kind = "lateral" if m.group(1) == "inner" else "output"
            out[f"backbone.fpn_{kind}{int(m.group(2)) + 2}.{m.group(3)}"] = v
            continue
        m = re.match(r"^rpn\.head\.(conv(?:\.0)*|cls_logits|bbox_pred)\.(weight|bias)$", key)
        if m:
            name = {"cls_logits": "objectness_logits", "bbox_pred": "anchor_deltas"}.get(m.group(1), "conv")
            out[f"proposal_generator.rpn_head.{name}.{m.group(2)}"] = v
            continue
        m = re.match(r"^roi_heads\.box_head\.fc([67])\.(weight|bias)$", key)
        if m:
            out[f"roi_heads.box_head.fc{int(m.group(1)) - 5}.{m.group(2)}"] = v
            continue
        if key.startswith("roi_heads.box_predictor.cls_score."):
            rows = _class_rows(v.shape[0]) + [0]
            out[key] = v[rows]
            continue
        if key.startswith("roi_heads.box_predictor.bbox_pred."):
            rows = _class_rows(v.shape[0] // 4)
            out[key] = v.reshape(v.shape[0] // 4, 4, *v.shape[1:])[rows].reshape(-1, *v.shape[1:])
            continue
        m = re.match(r"^roi_heads\.mask_head\.(?:mask_fcn)?(\d)\.(?:0\.)?(weight|bias)$", key)
        if m:
            idx = int(m.group(1)) + (0 if "mask_fcn" in key else 1)
            out[f"roi_heads.mask_head.mask_fcn{idx}.{m.group(2)}"] = v
            continue
        if key.startswith("roi_heads.mask_predictor.conv5_mask."):
            out["roi_heads.mask_head.deconv." + key.rsplit(".", 1)[1]] = v
            continue
        if key.startswith("roi_heads.mask_predictor.mask_fcn_logits."):
            out["roi_heads.mask_head.predictor." + key.rsplit(".", 1)[1]] = v[_class_rows(v.shape[0])]
            continue
        out[key] = v  # reported as unexpected if the model has no such key
    return out


def convert_torchvision_deeplabv3(sd, class_names=None):
    """torchvision ``deeplabv3_resnet50/101`` state_dict -> SemanticSegmentor names. With ``class_names`` (ours,
    ``background`` first) that are all VOC classes, the 21-row classifier outputs keep those classes' rows in
    that order (e.g. VOC background 0 and person 15 for background/person); otherwise they stay as they are."""
    from torchvision.models.segmentation import DeepLabV3_ResNet50_Weights

    voc = ["background" if c == "__background__" else c
           for c in DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1.meta["categories"]]
    rows = [voc.index(c) for c in class_names] if class_names and all(c in voc for c in class_names) else None
    if rows is not None:
        logger.info("torchvision DeepLabv3: classes %s take the VOC classifier rows %s", list(class_names), rows)
    out = {}
    for key, v in sd.items():
        if key.startswith("backbone."):
            k = _tv_resnet_key(key[len("backbone."):])
            if k is not None:
                out["backbone." + k] = v
        elif key.startswith(("classifier.", "aux_classifier.")):
            final = re.match(r"^(aux_)?classifier\.4\.(weight|bias)$", key)
            out["sem_seg_head." + key] = v[rows] if final and rows is not None and v.shape[0] == len(voc) else v
        else:
            out[key] = v  # reported as unexpected if the model has no such key
    return out


def _fit_backbone_prefix(sd, model_keys):
    """``backbone.bottom_up.*`` keys -> ``backbone.*`` for models whose backbone is the bare ResNet (DeepLab)."""
    if any(k.startswith("backbone.bottom_up.") for k in model_keys):
        return sd
    return {("backbone." + k[len("backbone.bottom_up."):] if k.startswith("backbone.bottom_up.") else k): v
            for k, v in sd.items()}


def _match_suffixes(sd, model_keys):
    """Rename checkpoint keys to the unique model key that ends with ``.<key>`` (detectron2's matching heuristics)."""
    out = {}
    for k, v in sd.items():
        if k in model_keys:
            out[k] = v
            continue
        candidates = [mk for mk in model_keys if mk.endswith("." + k)]
        out[candidates[0] if len(candidates) == 1 else k] = v
    return out


def _check_torchvision_compat(model, fmt):
    """torchvision ResNets stride on the 3x3 conv and normalize RGB with ImageNet statistics."""
    backbone = getattr(model, "backbone", None)
    bottom_up = getattr(backbone, "bottom_up", backbone)
    if getattr(bottom_up, "stride_in_1x1", False):
        raise LocalstyleError("torchvision weights need MODEL.RESNETS.STRIDE_IN_1X1 False (torchvision puts the "
                              "stride on the 3x3 conv); also use INPUT.FORMAT RGB, MODEL.PIXEL_MEAN "
                              f"{TORCHVISION_PIXEL_MEAN} and MODEL.PIXEL_STD {TORCHVISION_PIXEL_STD}")
    mean = getattr(model, "pixel_mean", None)
    if mean is not None and (getattr(model, "input_format", "RGB") != "RGB"
                             or not torch.allclose(mean.flatten().cpu(), torch.tensor(TORCHVISION_PIXEL_MEAN))):
        logger.warning("torchvision weights expect INPUT.FORMAT RGB, MODEL.PIXEL_MEAN %s, MODEL.PIXEL_STD %s",
                       TORCHVISION_PIXEL_MEAN, TORCHVISION_PIXEL_STD)
    if fmt == "torchvision":
        logger.warning("Loaded torchvision Mask R-CNN weights: torchvision rounds its anchors and pools with "
                       "sampling_ratio 2 / aligned=False, so outputs will differ slightly from torchvision's model")


def load_model_weights(model, cfg_or_path, trusted=False):
    """Load ``cfg.MODEL.WEIGHTS`` (or a path/URL/name) into ``model``; returns a report dict.

    Full pickles are unpickled only with ``trusted`` (or ``cfg.MODEL.WEIGHTS_TRUSTED``).
    The report has ``skipped`` (shape mismatch, not loaded), ``missing`` (model keys not in the checkpoint),
    ``unexpected`` (checkpoint keys the model lacks), ``format``, ``path`` and ``tensors`` (how many the model has,
    BatchNorm step counters aside). An empty spec loads nothing.
    """
    if not isinstance(cfg_or_path, (str, os.PathLike)):
        trusted = trusted or cfg_or_path.MODEL.WEIGHTS_TRUSTED
        cfg_or_path = cfg_or_path.MODEL.WEIGHTS
    spec = os.fspath(cfg_or_path)
    model_sd = model.state_dict()
    report = {"skipped": [], "missing": [], "unexpected": [], "format": None, "path": None,
              "tensors": sum(not k.endswith("num_batches_tracked") for k in model_sd)}
    if not spec:
        return report
    path = resolve_weights(spec)
    sd, fmt = read_checkpoint(path, trusted)
    report.update(format=fmt, path=path)
    if fmt == "caffe2":
        sd = _match_suffixes(convert_c2_names(sd), set(model_sd))
    elif fmt in ("torchvision", "torchvision_resnet"):
        _check_torchvision_compat(model, fmt)
        sd = _fit_backbone_prefix(convert_torchvision_names(sd, fmt), set(model_sd))
    elif fmt == "torchvision_deeplabv3":
        _check_torchvision_compat(model, fmt)
        sd = convert_torchvision_deeplabv3(sd, getattr(model, "class_names", None))
    elif fmt == "torchvision_d2":
        _check_torchvision_compat(model, fmt)
        sd = _match_suffixes(sd, set(model_sd))
    elif fmt == "detectron2_heuristics":
        sd = _match_suffixes(sd, set(model_sd))
    sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked") and k not in ("pixel_mean", "pixel_std")}
    to_load = {}
    for k, v in sd.items():
        if k not in model_sd:
            report["unexpected"].append(k)
        elif tuple(v.shape) != tuple(model_sd[k].shape):
            report["skipped"].append(k)
            logger.warning("Skip loading parameter '%s' to the model due to incompatible shapes: %s in the "
                           "checkpoint but %s in the model", k, tuple(v.shape), tuple(model_sd[k].shape))
        else:
            to_load[k] = v.to(model_sd[k].dtype)
    model.load_state_dict(to_load, strict=False)
    # BatchNorm step counters are never loaded (nor needed for inference): not reported as missing
    report["missing"] = [k for k in model_sd if k not in to_load and not k.endswith("num_batches_tracked")]
    logger.info("Loaded %d/%d tensors from %s (%s)", len(to_load), len(model_sd), path, fmt)
    if report["missing"]:
        logger.warning("Some model parameters or buffers are not in the checkpoint (%d): %s",
                       len(report["missing"]), _short(report["missing"]))
    if report["unexpected"]:
        logger.warning("The checkpoint contains keys not used by the model (%d): %s",
                       len(report["unexpected"]), _short(report["unexpected"]))
    return report


def require_all_tensors(report, purpose):
    """One-line error unless the weights of ``report`` (see :func:`load_model_weights`; None: no weights were
    loaded) gave every tensor of the model; ``purpose`` (e.g. "MASKS.SOURCE predictor needs a detector trained for
    this config") ends the message."""
    if report is None or not report["path"]:
        raise LocalstyleError(f"MODEL.WEIGHTS is empty, so the model is random; {purpose}")
    if report["missing"]:
        raise LocalstyleError(misfit(report, report["missing"][0], purpose))


def misfit(report, first, purpose):
    """``MODEL.WEIGHTS x: only K of the model's N tensors match it (first missing: first); purpose``."""
    total = report["tensors"]
    return (f"MODEL.WEIGHTS {report['path']}: only {total - len(report['missing'])} of the model's {total} tensors "
            f"match it (first missing: {first}); {purpose}")


def _short(names, n=8):
    return ", ".join(names[:n]) + (f", ... (+{len(names) - n})" if len(names) > n else "")


def detectron2_config(cfg):
    """A copy of ``cfg`` with only detectron2's keys (localstyle-only sections removed)."""
    out = cfg.clone()
    out.defrost()
    return pop_keys(out, LOCALSTYLE_ONLY_KEYS)


def export_detectron2(model, cfg, output_dir, name="model_final"):
    """Write ``<output_dir>/<name>.pth`` (``{"model": state_dict}``, detectron2 names) and ``config.yaml``.

    The YAML is ``cfg`` restricted to detectron2's keys with MODEL.WEIGHTS pointing at the written .pth, so
    ``detectron2``'s ``get_cfg(); merge_from_file(...)`` + ``DefaultPredictor`` load it directly.
    Returns ``(pth_path, yaml_path)``.
    """
    os.makedirs(output_dir, exist_ok=True)
    pth = os.path.abspath(os.path.join(output_dir, f"{name}.pth"))
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    atomic_torch_save({"model": state}, pth)
    d2_cfg = detectron2_config(cfg)
    d2_cfg.MODEL.WEIGHTS = pth
    if d2_cfg.MODEL.DEVICE == "auto":  # detectron2 has no "auto"
        d2_cfg.MODEL.DEVICE = resolve_device(d2_cfg)
    yaml_path = os.path.join(output_dir, "config.yaml")
    with atomic_open(yaml_path, "w", encoding="utf-8") as f:
        f.write(d2_cfg.dump())
    return pth, yaml_path
