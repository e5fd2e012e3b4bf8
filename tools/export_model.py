#!/usr/bin/env python
"""Export the whole Mask R-CNN predictor (normalization, padding, backbone, RPN, ROI heads, mask head, paste to the
original size) to ONNX or TorchScript, like detectron2's ``tools/deploy/export_model.py``.

  python tools/export_model.py --config-file configs/person/mask_rcnn_R_50_FPN_1x.yaml --format onnx \\
      --output exported/ MODEL.WEIGHTS output/person/mask_rcnn_R_50_FPN_1x/model_final.pth MODEL.DEVICE cpu

Writes ``OUTPUT/model.onnx`` (or ``model.ts``) and ``OUTPUT/config.yaml``; run the ONNX file with
``MODEL.EXPORTED OUTPUT/model.onnx`` under the default ``MODEL.RUNTIME openvino`` (or ``onnxruntime``), the
TorchScript file with ``MODEL.RUNTIME torchscript MODEL.EXPORTED OUTPUT/model.ts``. Inputs: ``image`` (3 x H x W
float32, resized as the predictor resizes, INPUT.FORMAT order) and ``size`` (int64 original height, width);
outputs ``boxes``, ``scores``, ``classes``, ``masks`` (R x height x width bool). Then checks the exported model,
under the runtime that will run it, against the eager one.
"""
from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--config-file", required=True, metavar="FILE", help="localstyle/detectron2 config YAML")
    parser.add_argument("--format", required=True, choices=["onnx", "torchscript"])
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for model.onnx/model.ts + config.yaml")
    return add_config_opts(parser)


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.config import load_config
    from localstyle.export.exporter import build_inference_model, export_predictor, sample_inputs
    from localstyle.export.parity import compare_instances
    from localstyle.export.runtimes import EagerRuntime, runtime_class

    cfg = load_config(args.config_file, args.opts)
    cfg.MODEL.DEVICE = "cpu"
    model, _ = build_inference_model(cfg)
    path = export_predictor(model, cfg, args.format, args.output)
    image, size = sample_inputs(cfg)
    inputs = [{"image": image, "height": int(size[0]), "width": int(size[1])}]
    ref = EagerRuntime(cfg, model)(inputs)[0]["instances"]
    runtime = cfg.MODEL.RUNTIME  # checked with the runtime that will run it: the config's, else the format's default
    if getattr(runtime_class(runtime), "format", None) != args.format:
        runtime = {"onnx": "openvino", "torchscript": "torchscript"}[args.format]
    ours = runtime_class(runtime)(path)(inputs)
    parity = compare_instances(ours[0]["instances"], ref)
    print(f"wrote {path}; {runtime} against the eager model on a sample image: {parity}")
    print(f"run it with: MODEL.RUNTIME {runtime} MODEL.EXPORTED {path}")
    if not parity.within():
        raise LocalstyleError(f"{path}: the exported model does not reproduce the eager one ({parity})")
    return path


if __name__ == "__main__":
    main()
