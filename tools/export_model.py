#!/usr/bin/env python
"""Export the whole Mask R-CNN predictor (normalization, padding, backbone, RPN, ROI heads, mask head, paste to the
original size) to ONNX, TorchScript or OpenVINO IR (fp32 or INT8), like detectron2's ``tools/deploy/export_model.py``.

  python tools/export_model.py --config-file configs/person/mask_rcnn_R_50_FPN_1x.yaml --format onnx \\
      --output exported/ MODEL.WEIGHTS output/person/mask_rcnn_R_50_FPN_1x/model_final.pth MODEL.DEVICE cpu
  python tools/export_model.py --config-file CFG --format openvino --precision int8 --calib-images 64 \\
      --output exported_int8/ MODEL.WEIGHTS model_final.pth

Writes ``OUTPUT/model.onnx`` (``model.ts``, ``model.xml`` + ``model.bin``) and ``OUTPUT/config.yaml``. Run the ONNX
file with ``MODEL.EXPORTED OUTPUT/model.onnx`` under the default ``MODEL.RUNTIME openvino`` (or ``onnxruntime``), the
TorchScript file with ``MODEL.RUNTIME torchscript``, an OpenVINO model.xml with ``MODEL.RUNTIME openvino``
(``MODEL.PRECISION int8`` for an INT8 one); the tool prints the keys to use. INT8: NNCF post-training quantization on
``--calib-images`` images spread over ``--calib-folder`` (default: DATASETS.TRAIN[0]; MODEL.INT8.CALIB_IMAGES /
CALIB_FOLDER); ``--max-ap-drop`` turns on NNCF's accuracy control (mask AP on the annotated DATASETS.TRAIN
calibration images).

Inputs: ``image`` (3 x H x W float32, resized as the predictor resizes, INPUT.FORMAT order), ``size`` (int64
original height, width), ``score_thresh`` (float32) and ``detections_per_image`` (int64; the runtimes pass the run's
SCORE_THRESH_TEST and DETECTIONS_PER_IMAGE); outputs
``boxes``, ``scores``, ``classes``, ``masks`` (R x height x width bool). NMS_THRESH_TEST is traced in. Then checks
the exported model, under the runtime that will run it, against the eager one (fp32: within the parity tolerances;
int8: printed).
"""
from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--config-file", required=True, metavar="FILE", help="localstyle/detectron2 config YAML")
    parser.add_argument("--format", required=True, choices=["onnx", "torchscript", "openvino"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "int8"], help="int8: --format openvino only")
    parser.add_argument("--calib-images", type=int, metavar="N",
                        help="INT8 calibration images (MODEL.INT8.CALIB_IMAGES)")
    parser.add_argument("--calib-folder", metavar="DIR",
                        help="INT8 calibration images' folder (MODEL.INT8.CALIB_FOLDER; default: DATASETS.TRAIN)")
    parser.add_argument("--max-ap-drop", type=float, metavar="POINTS",
                        help="INT8 with NNCF's accuracy control: layers stay in float until the mask AP on the "
                             "calibration images (DATASETS.TRAIN, annotated) drops at most this many points")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the model file + config.yaml")
    return add_config_opts(parser)


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.config import load_config
    from localstyle.export.exporter import build_inference_model, export_predictor, sample_inputs
    from localstyle.export.parity import compare_instances
    from localstyle.export.runtimes import EagerRuntime, build_runtime

    cfg = load_config(args.config_file, args.opts)
    cfg.MODEL.DEVICE = "cpu"
    if args.calib_images is not None:
        cfg.MODEL.INT8.CALIB_IMAGES = args.calib_images
    if args.calib_folder is not None:
        cfg.MODEL.INT8.CALIB_FOLDER = args.calib_folder
    validate = None
    if args.max_ap_drop is not None:
        if args.precision != "int8":
            raise LocalstyleError("--max-ap-drop: accuracy control is for --precision int8")
        from localstyle.evaluation.int8_metric import mask_ap_metric

        validate = mask_ap_metric(cfg)
    model, _ = build_inference_model(cfg)
    path = export_predictor(model, cfg, args.format, args.output, args.precision, validate, args.max_ap_drop)
    image, size = sample_inputs(cfg)[:2]
    inputs = [{"image": image, "height": int(size[0]), "width": int(size[1])}]
    ref = EagerRuntime(cfg, model)(inputs)[0]["instances"]
    exported = cfg.clone()  # checked with the runtime that will run it: onnxruntime if the config says so
    if not (args.format == "onnx" and cfg.MODEL.RUNTIME == "onnxruntime"):
        exported.MODEL.RUNTIME = "torchscript" if args.format == "torchscript" else "openvino"
    exported.MODEL.EXPORTED, exported.MODEL.PRECISION = path, args.precision
    parity = compare_instances(build_runtime(exported)(inputs)[0]["instances"], ref)
    print(f"wrote {path}; {exported.MODEL.RUNTIME} against the eager model on a sample image: {parity}")
    print(f"run it with: MODEL.RUNTIME {exported.MODEL.RUNTIME} MODEL.EXPORTED {path}"
          + (" MODEL.PRECISION int8" if args.precision == "int8" else ""))
    if args.precision == "fp32" and not parity.within():
        raise LocalstyleError(f"{path}: the exported model does not reproduce the eager one ({parity})")
    return path


if __name__ == "__main__":
    main()
