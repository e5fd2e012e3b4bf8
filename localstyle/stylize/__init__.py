"""Batch localized stylization: find instances, style only their crops, composite, write outputs.

For every input image ``<stem>`` the runner writes, into the output folder, ``<stem>.png`` (the
composite), ``<stem>_mask.png`` (the alpha actually used, 0..255), ``<stem>_strip.jpg`` (content |
style | stylized | segmentation | outcome) and an entry in ``manifest.json``. Images are decoded in
threads ahead of the batch being processed (:mod:`.inputs`); instances come from a mask source
(:mod:`localstyle.masks`); each image gets a plan (:mod:`.plan`); the style method gets all regions of a
batch that share a style in one ``stylize`` call; outputs (:mod:`.outputs`) and the manifest are written
in a background thread while the next batch is processed (:mod:`.writer`). Finished images are skipped
on a rerun.
"""
from localstyle.stylize.inputs import list_inputs
from localstyle.stylize.outputs import settings_of
from localstyle.stylize.runner import StylizeRunner

__all__ = ["StylizeRunner", "list_inputs", "settings_of"]
