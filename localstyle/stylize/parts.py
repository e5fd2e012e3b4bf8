"""``manifest.json`` of a run over several processes: each rank writes its own part, ``manifest.rank<r>.json``,
and the parts are merged into ``manifest.json`` atomically (at the end of the run, and at the start of the next
one for the parts a stopped run left behind)."""
import collections
import glob
import json
import logging
import os

from localstyle.stylize.outputs import Manifest
from localstyle.utils.file_io import atomic_write_json

logger = logging.getLogger(__name__)


def part_path(output_dir, rank):
    """Where rank ``rank`` writes its entries."""
    return os.path.join(output_dir, f"manifest.rank{rank}.json")


class ManifestPart(Manifest):
    """A rank's view of the manifest: reads as ``manifest.json`` plus the entries this rank added; saves only those
    entries, into :func:`part_path` (``manifest.json`` is written by :func:`merge_parts` alone)."""

    def __init__(self, output_dir, rank):
        merged = Manifest(output_dir)
        self.path = part_path(output_dir, rank)
        self.own = {"images": {}, "videos": {}, "digests": {}}
        self.data = {kind: collections.ChainMap(self.own[kind], merged.data.get(kind, {}))
                     for kind in ("images", "videos", "digests")}

    def save(self, settings):
        self.own["settings"] = settings
        atomic_write_json(self.path, self.own, indent=1)


def merge_parts(output_dir):
    """Fold every ``manifest.rank*.json`` of ``output_dir`` into ``manifest.json`` (one atomic write), then remove
    them; returns how many parts were merged. An unreadable part is left out with a warning (its images are redone
    by the next run)."""
    parts = sorted(glob.glob(os.path.join(glob.escape(output_dir), "manifest.rank*.json")))
    if not parts:
        return 0
    manifest = Manifest(output_dir)
    settings = manifest.data.get("settings")
    for path in parts:
        try:
            with open(path, encoding="utf-8") as f:
                part = json.load(f)
        except (OSError, ValueError):
            logger.warning("%s: unreadable manifest part, left out", path)
            continue
        manifest.images.update(part.get("images", {}))
        if part.get("videos"):
            manifest.videos.update(part["videos"])
        if isinstance(part.get("digests"), dict):
            manifest.data.setdefault("digests", {}).update(part["digests"])
        settings = part.get("settings", settings)
    manifest.save(settings)
    for path in parts:
        os.remove(path)
    return len(parts)
