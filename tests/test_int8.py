"""MODEL.PRECISION int8: tools/export_model.py --format openvino --precision int8 quantizes detectron2's thin R50-FPN
fixture with NNCF on calibration images (a folder here; DATASETS.TRAIN by default) into an OpenVINO IR that finds
the fixture's real objects like the fp32 model; bad settings are one-line errors. (~1 min: NNCF's graph analysis.)"""
import os
import shutil

import cv2
import pytest
import torch
from torchvision.ops import box_iou

from engine_helpers import D2_FIXTURES, load_script, thin_r50_cfg
from localstyle.engine.predictor import DefaultPredictor
from localstyle.export.int8 import calibration_files
from localstyle.export.runtimes import build_runtime
from localstyle.utils.errors import LocalstyleError

SYNTHETIC = ["synthetic_val_0000.png", "synthetic_val_0001.png"]


@pytest.fixture(scope="module")
def calib_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calib")
    for name in SYNTHETIC + ["skimage_astronaut.png"]:
        shutil.copy(os.path.join(D2_FIXTURES, name), folder / name)
    return str(folder)


def test_calibration_files(calib_folder):
    cfg = thin_r50_cfg("thin_r50_fpn.pth", 0.05, "MODEL.INT8.CALIB_FOLDER", calib_folder,
                       "MODEL.INT8.CALIB_IMAGES", "2")
    assert [os.path.basename(p) for p in calibration_files(cfg)] == ["skimage_astronaut.png", "synthetic_val_0001.png"]
    cfg.MODEL.INT8.CALIB_IMAGES = 10
    assert len(calibration_files(cfg)) == 3
    for opts, words in [(["MODEL.INT8.CALIB_FOLDER", calib_folder + "/nope"], "no such folder"),
                        (["MODEL.INT8.CALIB_FOLDER", "", "DATASETS.TRAIN", "()"], "needs calibration images"),
                        (["MODEL.INT8.CALIB_FOLDER", ""], "fixture_synth_train.* is not registered"),
                        (["MODEL.INT8.CALIB_IMAGES", "0"], "at least one")]:
        with pytest.raises(LocalstyleError, match=words):
            calibration_files(thin_r50_cfg("thin_r50_fpn.pth", 0.05, "MODEL.INT8.CALIB_FOLDER", calib_folder, *opts))


def test_int8_export_and_run(tmp_path, calib_folder, capsys):
    out = tmp_path / "int8"
    load_script("tools", "export_model.py").main([
        "--config-file", os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"), "--format", "openvino", "--precision", "int8",
        "--calib-images", "2", "--calib-folder", calib_folder, "--output", str(out),
        "MODEL.WEIGHTS", os.path.join(D2_FIXTURES, "thin_r50_fpn.pth")])
    assert "min_mask_iou" in capsys.readouterr().out
    xml = out / "model.xml"
    assert (out / "model.bin").is_file() and (out / "config.yaml").is_file() and "FakeQuantize" in xml.read_text()
    assert (out / "model.bin").stat().st_size < 0.5 * os.path.getsize(os.path.join(D2_FIXTURES, "thin_r50_fpn.pth"))

    torch.set_num_threads(2)
    int8 = DefaultPredictor(thin_r50_cfg("thin_r50_fpn.pth", 0.3, "MODEL.RUNTIME", "openvino", "MODEL.PRECISION",
                                         "int8", "MODEL.EXPORTED", str(xml)))
    fp32 = DefaultPredictor(thin_r50_cfg("thin_r50_fpn.pth", 0.3, "MODEL.RUNTIME", "eager"))
    for name in SYNTHETIC:  # every real object is found with score >= 0.98 in fp32 (fixture README)
        image = cv2.imread(os.path.join(D2_FIXTURES, name), cv2.IMREAD_COLOR)
        ref, ours = fp32(image)["instances"], int8(image)["instances"]
        ref = ref[ref.scores > 0.9]
        iou = box_iou(ref.pred_boxes.tensor, ours.pred_boxes.tensor)
        best = iou.argmax(dim=1)
        assert len(ref) >= 3 and (iou.max(dim=1)[0] > 0.8).all()  # 2 calibration images: rough ranges
        assert torch.equal(ours.pred_classes[best], ref.pred_classes) and (ours.scores[best] > 0.5).all()
        a, b = ours.pred_masks[best].flatten(1), ref.pred_masks.flatten(1)
        assert ((a & b).sum(1) / (a | b).sum(1)).min() > 0.7  # the paste stays in float: masks keep their shape

    for opts, words in [(["MODEL.RUNTIME", "openvino", "MODEL.EXPORTED", str(out / "nope.onnx")], "no such"),
                        (["MODEL.RUNTIME", "openvino", "MODEL.EXPORTED",
                          os.path.join(D2_FIXTURES, "thin_r50_fpn.pth")], "quantized model.xml"),
                        (["MODEL.RUNTIME", "eager"], "int8 with openvino"),
                        (["MODEL.RUNTIME", "onnxruntime"], "int8 with openvino")]:
        with pytest.raises(LocalstyleError, match=words):
            build_runtime(thin_r50_cfg("thin_r50_fpn.pth", 0.05, "MODEL.PRECISION", "int8", *opts))


def test_int8_accuracy_control(tmp_path, calib_folder, capsys):
    """--max-ap-drop: NNCF's accuracy control on annotated DATASETS.TRAIN images keeps the mask AP that our metric
    measures on them within the drop; it refuses unannotated folders and fp32."""
    from localstyle.data.synthetic import make_synthetic
    from localstyle.evaluation.int8_metric import mask_ap_metric
    from localstyle.export.openvino_io import openvino_onnx, read_openvino

    jsons = make_synthetic(str(tmp_path), 4, 0, 320, seed=3)
    data = ["DATASETS.REGISTER_COCO", repr([["ac_train", jsons["train"], str(tmp_path / "train")]]),
            "DATASETS.TRAIN", "('ac_train',)"]
    args = ["--config-file", os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"), "--format", "openvino",
            "--calib-images", "4", "--output", str(tmp_path / "out"), "MODEL.WEIGHTS",
            os.path.join(D2_FIXTURES, "thin_r50_fpn.pth"), *data]
    tool = load_script("tools", "export_model.py")
    for extra, words in [(["--precision", "fp32", "--max-ap-drop", "1"], "for --precision int8"),
                         (["--precision", "int8", "--max-ap-drop", "1", "--calib-folder", calib_folder],
                          "annotated calibration images")]:
        with pytest.raises(SystemExit):
            tool.main(args[:4] + extra + args[4:])
        assert words in capsys.readouterr().err
    xml = tool.main(args[:4] + ["--precision", "int8", "--max-ap-drop", "1.0"] + args[4:])

    cfg = thin_r50_cfg("thin_r50_fpn.pth", 0.05, *data, "MODEL.INT8.CALIB_IMAGES", "4")
    metric, files = mask_ap_metric(cfg), calibration_files(cfg)
    core = openvino_onnx()[0]
    onnx = tool.main(args[:2] + ["--format", "onnx"] + args[4:])
    fp32_ap, int8_ap = (metric(core.compile_model(read_openvino(p), "CPU"), files) for p in (onnx, xml))
    assert fp32_ap > 30 and fp32_ap - int8_ap <= 1.0, (fp32_ap, int8_ap)
