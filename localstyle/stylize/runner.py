"""The batch loop: decode -> mask source -> plan -> style method (per style, over a batch) -> write."""
import functools
import os
import time

from tqdm import tqdm

from localstyle.masks import build_mask_source
from localstyle.style import build_style_method
from localstyle.stylize.inputs import image_loader, output_stem
from localstyle.stylize.outputs import Manifest, OutputPaths, manifest_entry, settings_of, write_outputs
from localstyle.stylize.plan import Planner, stylize_plans
from localstyle.stylize.styles import StyleBook
from localstyle.stylize.writer import BatchWriter
from localstyle.utils.file_io import ensure_writable_dir


class StylizeRunner:
    """Runs the whole batch: ``StylizeRunner(cfg, output_dir, overwrite).run(inputs) -> summary dict``."""

    def __init__(self, cfg, output_dir, overwrite=False, manifest=None):
        ensure_writable_dir(output_dir, "--output")  # before any model is built
        cfg = cfg.clone()
        self.cfg, self.output_dir, self.overwrite = cfg, output_dir, overwrite
        self.styles = StyleBook(cfg)
        self.masks = build_mask_source(cfg)
        self.thing_classes = self.masks.thing_classes
        self.planner = Planner(cfg, self.styles, self.thing_classes)
        self.method = build_style_method(cfg)
        self.manifest = manifest if manifest is not None else Manifest(output_dir)  # a rank's part: parts.py
        self.digests = self.manifest.digests  # size + mtime fast path, sha256 when they changed
        self.settings = settings_of(cfg, self.digests)
        self.input_digests = {}

    def output_paths(self, stem):
        """The :class:`OutputPaths` of image ``stem`` (strip only if STYLIZE.STRIP)."""
        return OutputPaths.of(self.output_dir, stem, self.cfg.STYLIZE.STRIP)

    def is_complete(self, path):
        """All outputs of input ``path`` exist and its manifest entry was made from the same input content with the
        current settings."""
        stem = output_stem(path)
        paths = self.output_paths(stem).as_dict().values()
        return not self.is_stale(path) and stem in self.manifest.images and all(os.path.isfile(p) for p in paths)

    def is_stale(self, path):
        """Input ``path`` has a manifest entry made with other settings (another style image or its content,
        method, strength, mask model...) or from another input file content."""
        entry = self.manifest.images.get(output_stem(path))
        return entry is not None and (entry.get("settings") != self.settings
                                      or entry.get("input_sha256") != self.input_digests.get(path))

    def select(self, inputs, report=True):
        """``(todo, skipped, failed)``: the paths of ``inputs`` to stylize, how many are already complete, and the
        paths left out because an earlier input has the same output name (reported unless ``report`` is False)."""
        stems, todo, failed = {}, [], []
        for path in inputs:
            stem = output_stem(path)
            if stem in stems:
                failed.append(path)
                if report:
                    tqdm.write(f"failed: {path}: same output name {stem!r} as {stems[stem]}; skipped")
                continue
            stems[stem] = path
            # every digest before the writer thread saves the manifest (with the digest cache)
            self.input_digests[path] = digest_or_none(self.digests, path)
            if self.overwrite or not self.is_complete(path):
                todo.append(path)
        return todo, len(stems) - len(todo), failed

    def run(self, inputs, on_batch=None):
        """Stylize every path in ``inputs``; returns ``{"done", "redone", "skipped", "failed", "seconds"}``
        (``redone``: images whose earlier outputs were made with other settings or files). ``on_batch(paths)``, if
        given, is told the inputs of each batch before it is processed."""
        t0 = time.perf_counter()
        todo, skipped, failed = self.select(inputs)
        done = 0
        redone = 0 if self.overwrite else sum(map(self.is_stale, todo))
        loader = image_loader(todo, self.cfg.STYLIZE.BATCH_SIZE, self.cfg.STYLIZE.NUM_WORKERS)
        writer = BatchWriter(self.manifest, self.settings)
        with tqdm(total=len(todo), desc="stylize", unit="img", dynamic_ncols=True) as bar:
            try:
                for batch in loader:
                    if on_batch is not None:
                        on_batch([r.path for r in batch])
                    for r in batch:
                        if r.error:
                            failed.append(r.path)
                            tqdm.write(f"failed: {r.error}; skipped")
                    finished = writer.submit(self.process_batch([r for r in batch if not r.error]))
                    done += count_finished(finished, failed)
                    bar.update(len(batch))
            finally:
                done += count_finished(writer.close(), failed)
        summary = {"done": done, "redone": redone, "skipped": skipped, "failed": len(failed), "failed_files": failed,
                   "seconds": round(time.perf_counter() - t0, 2)}
        redone_text = f" ({redone} redone: settings or files changed)" if redone else ""
        print(f"stylize: {done} done{redone_text}, {skipped} skipped (already complete), {len(failed)} failed "
              f"in {summary['seconds']:.1f} s; outputs in {self.output_dir}")
        return summary

    def process_batch(self, records):
        """Masks and stylized regions for decoded ``records``; per record a :class:`BatchWriter` job: ``(path, a
        function writing its outputs and returning its manifest entry)``, or ``(path, the exception that stopped
        it)``."""
        if not records:
            return []
        t0 = time.perf_counter()
        dets = self.masks(records)
        mask_s = (time.perf_counter() - t0) / len(records)
        plans = [None if isinstance(d, Exception) else self.planner(r.image, d) for r, d in zip(records, dets)]
        stylized, stylize_s = stylize_plans(self.method, self.styles, plans)
        return [(r.path, det if plan is None else functools.partial(
                    self.finish, r, plan, out, {"decode_s": r.decode_s, "masks_s": mask_s, "stylize_s": s}))
                for r, det, plan, out, s in zip(records, dets, plans, stylized, stylize_s)]

    def finish(self, record, plan, stylized, timings):
        """Write the outputs of one planned and stylized image; returns its manifest entry."""
        t0 = time.perf_counter()
        paths = self.output_paths(output_stem(record.path))
        write_outputs(paths, record.image, plan, stylized, self.styles, self.cfg.STYLE.PRESERVE_COLOR)
        timings["compose_write_s"] = time.perf_counter() - t0
        timings["total_s"] = sum(timings.values())
        return manifest_entry(record.path, record.image, plan, paths, self.settings, timings,
                              self.input_digests[record.path])


def digest_or_none(digests, path):
    """``digests(path)``, or None when the file cannot be read (decoding reports that)."""
    try:
        return digests(path)
    except OSError:
        return None


def count_finished(finished, failed):
    """Report the failures among :class:`BatchWriter` results ``(path, entry or exception)`` (their paths are added
    to ``failed``); returns how many images were done."""
    done = 0
    for path, result in finished:
        if isinstance(result, Exception):
            failed.append(path)
            tqdm.write(f"failed: {result}; skipped")
        else:
            done += 1
    return done
