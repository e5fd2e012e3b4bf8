"""Config system: detectron2 zoo YAMLs load unchanged; _BASE_ chains; overrides are type-checked; errors name key+file."""
import os
import subprocess
import sys
import textwrap

import pytest

from localstyle.config import ConfigError, get_cfg, load_config

HERE = os.path.dirname(__file__)
D2_CONFIGS = os.path.join(HERE, "detectron2_configs")
REPO = os.path.dirname(HERE)


@pytest.mark.parametrize(
    "name,depth,steps,max_iter",
    [
        ("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml", 50, (60000, 80000), 90000),
        ("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml", 50, (210000, 250000), 270000),
        ("COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml", 101, (210000, 250000), 270000),
    ],
)
def test_detectron2_zoo_configs_load_unchanged(name, depth, steps, max_iter):
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(D2_CONFIGS, name))
    assert cfg.MODEL.RESNETS.DEPTH == depth
    assert cfg.MODEL.MASK_ON is True
    assert tuple(cfg.SOLVER.STEPS) == steps and cfg.SOLVER.MAX_ITER == max_iter
    # Values that only the shared base file sets.
    assert cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN"
    assert cfg.MODEL.BACKBONE.NAME == "build_resnet_fpn_backbone"
    assert list(cfg.MODEL.RPN.IN_FEATURES) == ["p2", "p3", "p4", "p5", "p6"]
    assert cfg.MODEL.ROI_BOX_HEAD.NUM_FC == 2
    assert tuple(cfg.INPUT.MIN_SIZE_TRAIN) == (640, 672, 704, 736, 768, 800)
    assert cfg.VERSION == 2


def test_dump_roundtrip(tmp_path):
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(D2_CONFIGS, "COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml"))
    path = tmp_path / "dumped.yaml"
    path.write_text(cfg.dump())
    again = get_cfg()
    again.merge_from_file(str(path))
    assert again == cfg


def test_base_chain_relative_paths_and_list_bases(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "root.yaml").write_text("SOLVER:\n  BASE_LR: 0.5\n  MAX_ITER: 10\n")
    (tmp_path / "other.yaml").write_text("SEED: 7\n")
    (tmp_path / "a" / "mid.yaml").write_text('_BASE_: ["../root.yaml", "../other.yaml"]\nSOLVER:\n  MAX_ITER: 20\n')
    (tmp_path / "a" / "b" / "leaf.yaml").write_text('_BASE_: "../mid.yaml"\nSOLVER:\n  STEPS: (5, 8)\n')
    cfg = load_config(str(tmp_path / "a" / "b" / "leaf.yaml"), ["SOLVER.MAX_ITER", "30"])
    assert cfg.SOLVER.BASE_LR == 0.5 and cfg.SEED == 7
    assert cfg.SOLVER.MAX_ITER == 30 and cfg.SOLVER.STEPS == (5, 8)


def test_override_types_are_checked_and_coerced():
    cfg = load_config(None, ["SOLVER.BASE_LR", "1", "INPUT.MIN_SIZE_TRAIN", "[256, 320]",
                             "DATASETS.TRAIN", "('a', 'b')", "MODEL.WEIGHTS", "/x/model.pth"])
    assert cfg.SOLVER.BASE_LR == 1.0 and isinstance(cfg.SOLVER.BASE_LR, float)
    assert cfg.INPUT.MIN_SIZE_TRAIN == (256, 320)
    assert cfg.DATASETS.TRAIN == ("a", "b")
    with pytest.raises(ConfigError, match=r"command line: config key SOLVER.MAX_ITER expects int"):
        load_config(None, ["SOLVER.MAX_ITER", "many"])
    with pytest.raises(ConfigError, match="KEY VALUE pairs"):
        load_config(None, ["SOLVER.MAX_ITER"])


def test_unknown_key_names_key_and_file(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("MODEL:\n  RESNETS:\n    DEPTHH: 50\n")
    child = tmp_path / "child.yaml"
    child.write_text("_BASE_: base.yaml\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(child))
    assert str(base) in str(e.value) and "MODEL.RESNETS.DEPTHH" in str(e.value)
    with pytest.raises(ConfigError, match="unknown config key MODEL.NOPE"):
        load_config(None, ["MODEL.NOPE", "1"])


def test_wrong_type_in_file_and_missing_base(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("SOLVER:\n  IMS_PER_BATCH: two\n")
    with pytest.raises(ConfigError, match=rf"{bad}: config key SOLVER.IMS_PER_BATCH expects int"):
        load_config(str(bad))
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text("_BASE_: missing/base.yaml\n")
    with pytest.raises(ConfigError, match=r"missing/base.yaml: config file not found \(base of .*orphan.yaml\)"):
        load_config(str(orphan))


def test_project_configs_load():
    """Every YAML under configs/ merges over the defaults."""
    found = []
    for root, _, files in os.walk(os.path.join(REPO, "configs")):
        for f in files:
            if f.endswith(".yaml"):
                found.append(os.path.join(root, f))
                load_config(found[-1])
    assert found, "configs/ holds no YAML files"


def test_cli_error_is_one_line(tmp_path):
    """A CLI given a bad key prints one 'error:' line, not a traceback."""
    script = tmp_path / "cli.py"
    script.write_text(textwrap.dedent("""
        import sys
        from localstyle.config import load_config
        from localstyle.utils.errors import cli_errors
        cli_errors(lambda: load_config(None, sys.argv[1:]))()
    """))
    proc = subprocess.run([sys.executable, str(script), "SOLVER.BASE_LRR", "1"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: command line: unknown config key SOLVER.BASE_LRR"
