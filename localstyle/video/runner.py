"""Localized stylization of a clip: ``VideoRunner(cfg, output_dir).run("clip.mp4")``.

Frames are streamed in chunks of ``VIDEO.CHUNK_SIZE``; each finished chunk is stored with the
temporal state after it (:mod:`localstyle.video.chunks`), so memory does not grow with the clip and a
rerun resumes after the last finished chunk (or starts over when the settings or the input changed).
``<stem>.mp4``, ``<stem>_mask.mp4``, ``<stem>_compare.mp4`` are written as frames come (under temporary
names until complete), then ``<stem>_strip.jpg``, and ``manifest.json`` gets the clip's entry with
per-frame timings and instance counts.
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
from localstyle.video.chunks import ChunkStore
from localstyle.video.frames import ChunkStylizer
from localstyle.video.outputs import ClipOutputs, key_frame_indices, output_paths
from localstyle.video.reader import open_video
from localstyle.video.writer import choose_codec

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


def clip_is_complete(cfg, output_dir, info, manifest):
    """Whether ``manifest`` holds clip ``info`` made from the same input with the same settings, and its files exist;
    returns ``(complete, entry, fingerprint)``."""
    fingerprint = {"settings": video_settings(cfg), "input": input_identity(info)}
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


def replay_chunks(store, done, stylizer, frames, outputs):
    """Write the frames of finished chunks into ``outputs`` again and restore the state after them."""
    if not done:
        return []
    print(f"stylize: resuming at frame {done[-1]['end']} ({len(done)} finished chunks kept)")
    for k, chunk in enumerate(done):
        originals = itertools.islice(frames, chunk["end"] - chunk["start"])
        for (index, _, rgb), out, mask in zip(originals, store.frames(k, "out"), store.frames(k, "mask")):
            outputs.add(index, rgb, out, mask)
    stylizer.load_state(done[-1]["state"], store.load_arrays(len(done) - 1))
    return [r for c in done for r in c["frames"]]


def process_chunk(stylizer, chunk, fingerprint, on_frame):
    """Stylize one chunk; returns its records and ``(chunk, results, record, arrays)`` for :func:`write_chunk`
    (the temporal state after the chunk, copied: the next chunk changes the stylizer's arrays in place)."""
    results = stylizer.process(chunk)
    records = []
    for (index, _, rgb, _), (outcome, used, record) in zip(chunk, results):
        if on_frame is not None:
            on_frame(index, rgb, outcome, used, record)
        records.append(record)
    meta, arrays = stylizer.state()
    record = {"fingerprint": fingerprint, "start": chunk[0][0], "end": chunk[-1][0] + 1, "frames": records,
              "state": meta}
    return records, (chunk, results, record, {name: np.array(a, copy=True) for name, a in arrays.items()})


def write_chunk(store, outputs, k, chunk, results, record, arrays):
    """Encode stylized chunk ``k`` into its chunk videos and the clip's outputs, then store it (state, record)."""
    writers = store.writers(k)
    for (index, _, rgb, _), (outcome, used, _) in zip(chunk, results):
        mask = np.repeat(np.round(used * 255).astype(np.uint8)[..., None], 3, axis=2)
        writers["out"].write(outcome)
        writers["mask"].write(mask)
        outputs.add(index, rgb, outcome, mask)
    store.finish(k, writers, record, arrays)


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
        logger.info("video codec: %s%s", self.codec, "" if self.codec == "avc1" or cfg.VIDEO.CODEC else
                    " (H.264 'avc1' cannot be encoded by this OpenCV build)")

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
        complete, entry, fingerprint = clip_is_complete(cfg, self.output_dir, info, self._manifest())
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
        frames = reader.frames(0)
        if cfg.VIDEO.MAX_FRAMES:
            frames = itertools.islice(frames, cfg.VIDEO.MAX_FRAMES)
        outputs = ClipOutputs(paths, self.codec, info.fps, size,
                              key_frame_indices(total, cfg.VIDEO.KEY_FRAMES, cfg.VIDEO.CHUNK_SIZE))
        # a finished chunk is encoded in the background while the next one is stylized (OpenCV encodes outside
        # Python's lock); one thread keeps the frames in order and each chunk's completion mark after its videos
        encoder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="encode")
        try:
            records = replay_chunks(store, done, stylizer, frames, outputs)
            t_run, k, encoding = time.perf_counter(), len(done), None
            with tqdm(total=total, initial=start, unit="frame", desc=info.stem, dynamic_ncols=True) as bar:
                while True:
                    try:
                        chunk = read_chunk(frames, cfg.VIDEO.CHUNK_SIZE)
                    except KeyboardInterrupt:
                        if not info.source.isdigit():
                            raise
                        chunk = []  # Ctrl-C ends a camera clip: keep what was filmed
                    if not chunk:
                        break
                    chunk_records, stylized = process_chunk(stylizer, chunk, fingerprint, on_frame)
                    if encoding is not None:
                        encoding.result()  # at most one chunk waits to be encoded
                    encoding = encoder.submit(write_chunk, store, outputs, k, *stylized)
                    records += chunk_records
                    bar.update(len(chunk))
                    k += 1
            encoder.shutdown()  # every chunk encoded and stored
            if encoding is not None:
                encoding.result()
            if not records:
                raise LocalstyleError(f"{info.source}: no frames to stylize")
            outputs.close()
        except BaseException:
            encoder.shutdown()
            outputs.abort()
            raise
        finally:
            reader.close()
        fps_done = (len(records) - start) / max(time.perf_counter() - t_run, 1e-9)
        store.clear()
        summary = {"frames": len(records), "processed": len(records) - start, "resumed_at": start,
                   "frames_per_s": round(fps_done, 3), "seconds": round(time.perf_counter() - t_start, 2),
                   "codec": self.codec}
        manifest = self._manifest()
        manifest.videos[info.stem] = manifest_entry(info, paths, fingerprint, records, summary)
        manifest.save(settings_of(cfg))
        print(f"stylize: {info.stem}: {len(records)} frames ({summary['processed']} processed at {fps_done:.2f} "
              f"frames/s), codec {self.codec}; outputs in {self.output_dir}")
        return summary
