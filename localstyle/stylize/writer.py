"""Writing finished images in a background thread while the next batch is masked and stylized."""
import collections
import concurrent.futures

from localstyle.stylize.inputs import output_stem
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import WriteError


class BatchWriter:
    """Runs the write jobs of each batch in one background thread, in order, then records their entries in
    ``manifest`` and saves it: the files and the manifest are written by that thread alone, and an image enters
    the manifest only once its files are complete, so a run stopped at any point resumes correctly.

    A job is ``(path, write)``: ``write()`` writes the image's outputs and returns its manifest entry (a
    :class:`LocalstyleError` it raises fails that image only, a :class:`WriteError` stops the run), or ``write``
    is already the exception that stopped the image. At most ``depth`` batches wait behind the one being processed
    (bounded memory).
    """

    def __init__(self, manifest, settings, depth=1):
        self.manifest, self.settings, self.depth = manifest, settings, depth
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="write")
        self._pending = collections.deque()

    def submit(self, jobs):
        """Queue one batch's jobs; returns ``(path, entry or exception)`` of the batches finished meanwhile."""
        self._pending.append(self._pool.submit(self._write, jobs))
        done = []
        while self._pending and (len(self._pending) > self.depth or self._pending[0].done()):
            done += self._pending.popleft().result()
        return done

    def close(self):
        """Wait for every queued batch; returns their ``(path, entry or exception)``."""
        done = []
        while self._pending:
            done += self._pending.popleft().result()
        self._pool.shutdown()
        return done

    def _write(self, jobs):
        results = []
        try:
            for path, write in jobs:
                if callable(write):
                    try:
                        write = write()
                    except WriteError:
                        raise  # the output folder cannot take files (full disk...): stop the run
                    except LocalstyleError as e:
                        write = e
                if not isinstance(write, Exception):
                    self.manifest.images[output_stem(path)] = write
                results.append((path, write))
        finally:  # images finished before a WriteError still enter the manifest
            if any(not isinstance(r, Exception) for _, r in results):
                self.manifest.save(self.settings)
        return results
