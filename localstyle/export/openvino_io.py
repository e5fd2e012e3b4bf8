"""OpenVINO models in and out: the process's one ``Core``, ONNX or IR (``model.xml`` + ``model.bin``) read, IR
written atomically."""
import functools
import os
import shutil
import tempfile

from localstyle.utils.errors import LocalstyleError


@functools.lru_cache(maxsize=None)
def openvino_onnx():
    """The process's one OpenVINO ``Core`` and ONNX front end (with its manager, which must outlive it): a new
    ``Core`` per model crashes OpenVINO after some loads (ultralytics/ultralytics#25864)."""
    import openvino as ov
    from openvino.frontend import FrontEndManager

    manager = FrontEndManager()
    return ov.Core(), manager, manager.load_by_framework("onnx")


def read_openvino(path):
    """``path`` (``.xml`` IR, else ONNX; no guessing among other formats) as an ``openvino.Model``."""
    from openvino.frontend import GeneralFailure

    core, _, onnx = openvino_onnx()
    try:
        return core.read_model(path) if path.endswith(".xml") else onnx.convert(onnx.load(path))
    except (GeneralFailure, RuntimeError) as e:
        raise LocalstyleError(f"{path}: OpenVINO cannot load this model ({str(e).strip().splitlines()[0]})") from e


def save_openvino(model, path):
    """Write ``model`` as IR ``path`` (``.xml``) and its ``.bin``, weights as they are (no fp16 compression); the
    ``.bin`` lands first, so a complete ``.xml`` means a complete model."""
    import openvino as ov

    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        ov.save_model(model, os.path.join(tmp, "model.xml"), compress_to_fp16=False)
        os.replace(os.path.join(tmp, "model.bin"), path[:-len(".xml")] + ".bin")
        shutil.move(os.path.join(tmp, "model.xml"), path)
    return path
