"""Localized stylization of a clip: ``VideoRunner(cfg, output_dir).run("clip.mp4")``.

Frames are streamed in chunks of ``VIDEO.CHUNK_SIZE``; each finished chunk is stored with the
temporal state after it (:mod:`localstyle.video.chunks`), so memory does not grow with the clip and a
rerun resumes after the last finished chunk (or starts over when the settings or the input changed).
Each chunk's frames are encoded once, as segments of ``<stem>.mp4``, ``<stem>_mask.mp4`` and
``<stem>_compare.mp4``, joined without re-encoding when the clip ends; then ``<stem>_strip.jpg``, and
``manifest.json`` gets the clip's entry (codec, encoder, output size) with per-frame timings and instance
counts.
"""
import concurrent.futures
import itertools
import logging
import os
import time

import numpy as np
from tqdm import tqdm

from localstyle.compose import resolve_classes
from localstyle.masks import build_mask_source
from localstyle.style import build_style_method
from localstyle.stylize.outputs import Manifest, settings_of
from localstyle.stylize.styles import StyleBook
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import ensure_writable_dir
from localstyle.utils.image_io import write_image
from localstyle.video.chunks import ChunkStore
from localstyle.video.frames import ChunkStylizer
from localstyle.video.outputs import key_frame_indices, key_frame_strip, output_paths
from localstyle.video.reader import open_video
from localstyle.video.writer import choose_codec, encoded_size

logger = logging.getLogger(__name__)


def video_settings(cfg):
    """The photo pipeline's recorded settings plus every VIDEO key."""
    out = settings_of(cfg)
    out.update({f"VIDEO.{k}": v for k, v in cfg.VIDEO.items()})
    return out


def input_identity(info):
    """What identifies the input clip: its path, size, length and (for files) modification time and bytes."""
    ident = {"source": os.path.abspath(info.source) if not info.source.isdigit() else info.source,
             "size": [info.width, info.height], "fps": info.fps, "frames": info.num_frames}
    if os.path.isfile(info.source):
        st = os.stat(info.source)
        ident.update(bytes=st.st_size, mtime=st.st_mtime)
    return ident


def clip_is_complete(cfg, output_dir, info, manifest, codec=None):
    """Whether ``manifest`` holds clip ``info`` made from the same input with the same settings and codec (default:
    the one VIDEO.CODEC picks), and its files exist; returns ``(complete, entry, fingerprint)``."""
    codec = codec or choose_codec(cfg.VIDEO.CODEC)
    fingerprint = {"settings": video_settings(cfg), "input": input_identity(info),
                   "codec": [codec.fourcc, codec.encoder]}
    entry = manifest.videos.get(info.stem, {})
    files = output_paths(output_dir, info.stem).values()
    complete = entry.get("fingerprint") == fingerprint and all(map(os.path.isfile, files))
    return complete, entry, fingerprint


def read_chunk(frames, size):
    """Up to ``size`` items ``(index, label, rgb, decode seconds)`` from the ``frames`` iterator."""
    chunk = []
    for _ in range(size):
        t0 = time.perf_counter()
        item = next(frames, None)
        if item is None:
            break
        chunk.append((*item, time.perf_counter() - t0))
    return chunk


def manifest_entry(info, paths, fingerprint, records, summary):
    """The clip's entry in manifest.json (under ``"videos"``)."""
    return {"input": fingerprint["input"]["source"], "size": [info.width, info.height], "fps": info.fps,
            "outputs": {k: os.path.basename(p) for k, p in paths.items()}, **summary,
            "fingerprint": fingerprint, "per_frame": records}


def resume_point(done):
    """Records of the finished chunks ``done`` (kept as they are: their segments are joined unchanged)."""
    if done:
        print(f"stylize: resuming at frame {done[-1]['end']} ({len(done)} finished chunks kept)")
    return [r for c in done for r in c["frames"]]


def finish_chunk(stylizer, chunk, planned, fingerprint, on_frame):
    """Finish one planned chunk (``planned``: its plans, the planning state after it, the future of its
    stylization); returns its records and ``(chunk, results, record, arrays)`` for :func:`write_chunk` (the
    temporal state after the chunk, copied: later chunks change the stylizer's arrays in place)."""
    plans, after, stylized = planned
    results = stylizer.finish(plans, stylized.result())
    records = []
    for (index, _, rgb, _), (outcome, used, record) in zip(chunk, results):
        if on_frame is not None:
            on_frame(index, rgb, outcome, used, record)
        records.append(record)
    meta, arrays = stylizer.state(after)
    record = {"fingerprint": fingerprint, "start": chunk[0][0], "end": chunk[-1][0] + 1, "frames": records,
              "state": meta}
    return records, (chunk, results, record, {name: np.array(a, copy=True) for name, a in arrays.items()})


def write_chunk(store, key_frames, k, chunk, results, record, arrays):
    """Encode stylized chunk ``k`` into its segments, then store it (key frames, state, record)."""
    writers, keys = store.writers(k), []
    for (index, _, rgb, _), (outcome, used, _) in zip(chunk, results):
        compare = np.concatenate([rgb, outcome], axis=1)
        writers["out"].write(outcome)
        writers["mask"].write(np.repeat(np.round(used * 255).astype(np.uint8)[..., None], 3, axis=2))
        writers["compare"].write(compare)
        if index in key_frames:
            keys.append((index, compare))
    store.finish(k, writers, keys, record, arrays)


class VideoRunner:
    """Stylizes clips into ``output_dir``; ``run(source)`` -> summary dict."""

    def __init__(self, cfg, output_dir, overwrite=False, mask_source=None, manifest=None):
        ensure_writable_dir(output_dir, "--output")  # before any model is built
        cfg = cfg.clone()
        self.cfg, self.output_dir, self.overwrite = cfg, output_dir, overwrite
        self.manifest = manifest  # a rank's part of the manifest (localstyle.stylize.parts), else manifest.json
        self.styles = StyleBook(cfg)
        if cfg.VIDEO.CHUNK_SIZE < 1:
            raise LocalstyleError(f"VIDEO.CHUNK_SIZE must be at least 1, got {cfg.VIDEO.CHUNK_SIZE}")
        self.masks = mask_source if mask_source is not None else build_mask_source(cfg)
        self.class_ids = resolve_classes(list(cfg.MASKS.CLASSES), self.masks.thing_classes)
        self.method = build_style_method(cfg)
        self.codec = choose_codec(cfg.VIDEO.CODEC)
        logger.info("video codec: %s (%s)", self.codec.fourcc, self.codec.encoder)

    def _manifest(self):
        return self.manifest if self.manifest is not None else Manifest(self.output_dir)

    def _stylizer(self):
        return ChunkStylizer(self.cfg, self.masks, self.method, self.styles, self.class_ids,
                             self.masks.thing_classes)

    def run(self, source, on_frame=None):
        """Stylize a clip; returns a summary dict.

        ``source``: a video file, frame folder or camera index, or a reader from :func:`open_video` (the CLI
        opens the input first, so a bad input fails before any model is built).
        ``on_frame(index, original, outcome, alpha, record)``, if given, sees every newly processed frame
        before it is encoded (``alpha``: the float alpha used, 0 where the frame is unchanged).
        """
        cfg, t_start = self.cfg, time.perf_counter()
        reader = source if hasattr(source, "info") else open_video(source, cfg.VIDEO.FPS)
        info = reader.info
        total = min(filter(None, [info.num_frames, cfg.VIDEO.MAX_FRAMES]), default=None)
        paths = output_paths(self.output_dir, info.stem)
        complete, entry, fingerprint = clip_is_complete(cfg, self.output_dir, info, self._manifest(), self.codec)
        if not self.overwrite and complete:
            print(f"stylize: {info.stem} already complete in {self.output_dir} (use --overwrite to redo it)")
            return {"frames": entry["frames"], "skipped": True}
        size = (info.width, info.height)
        store = ChunkStore(self.output_dir, info.stem, info.fps, size, self.codec)
        done = [] if self.overwrite or info.source.isdigit() else store.finished(fingerprint)
        if not done:
            store.clear()
        stylizer = self._stylizer()
        start = done[-1]["end"] if done else 0
        if done:
            stylizer.load_state(done[-1]["state"], store.load_arrays(len(done) - 1))
        frames = reader.frames(start)
        if cfg.VIDEO.MAX_FRAMES:
            frames = itertools.islice(frames, max(0, cfg.VIDEO.MAX_FRAMES - start))
        key_frames = key_frame_indices(total, cfg.VIDEO.KEY_FRAMES, cfg.VIDEO.CHUNK_SIZE)
        # three stages overlap: chunk k is stylized (onnxruntime, outside Python's lock) while chunk k + 1 is read
        # and planned and chunk k - 1 finished; a finished chunk is encoded in the background (one thread keeps
        # each chunk's completion mark after its segments)
        stylizing = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="stylize")
        encoder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="encode")
        try:
            records = resume_point(done)
            t_run, k, encoding, pending = time.perf_counter(), len(done), None, None
            with tqdm(total=total, initial=start, unit="frame", desc=info.stem, dynamic_ncols=True) as bar:
                while True:
                    try:
                        chunk = read_chunk(frames, cfg.VIDEO.CHUNK_SIZE)
                    except KeyboardInterrupt:
                        if not info.source.isdigit():
                            raise
                        chunk = []  # Ctrl-C ends a camera clip: keep what was filmed
                    planned = None
                    if chunk:
                        plans, after = stylizer.plan(chunk)
                        planned = (chunk, (plans, after, stylizing.submit(stylizer.stylize, plans)))
                    if pending is not None:
                        chunk_records, finished = finish_chunk(stylizer, *pending, fingerprint, on_frame)
                        if encoding is not None:
                            encoding.result()  # at most one chunk waits to be encoded
                        encoding = encoder.submit(write_chunk, store, key_frames, k, *finished)
                        records += chunk_records
                        bar.update(len(pending[0]))
                        k += 1
                    if planned is None:
                        break
                    pending = planned
            encoder.shutdown()  # every chunk encoded and stored
            if encoding is not None:
                encoding.result()
            if not records:
                raise LocalstyleError(f"{info.source}: no frames to stylize")
        except BaseException:
            encoder.shutdown()
            raise
        finally:
            stylizing.shutdown()
            reader.close()
        store.join(k, paths)
        keys = store.key_frames()
        if keys:
            write_image(paths["strip"], key_frame_strip(keys))
        fps_done = (len(records) - start) / max(time.perf_counter() - t_run, 1e-9)
        store.clear()
        summary = {"frames": len(records), "processed": len(records) - start, "resumed_at": start,
                   "frames_per_s": round(fps_done, 3), "seconds": round(time.perf_counter() - t_start, 2),
                   "codec": self.codec.fourcc, "encoder": self.codec.encoder,
                   "output_size": list(encoded_size(size))}
        manifest = self._manifest()
        manifest.videos[info.stem] = manifest_entry(info, paths, fingerprint, records, summary)
        manifest.save(settings_of(cfg))
        print(f"stylize: {info.stem}: {len(records)} frames ({summary['processed']} processed at {fps_done:.2f} "
              f"frames/s), codec {self.codec.fourcc} ({self.codec.encoder}) at {summary['output_size'][0]}x"
              f"{summary['output_size'][1]}; outputs in {self.output_dir}")
        return summary
