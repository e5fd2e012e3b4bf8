"""Logging setup like detectron2's: console on the main process, ``OUTPUT_DIR/log.txt`` per run."""
import logging
import os
import sys


def setup_logger(output_dir=None, distributed_rank=0, name="localstyle"):
    """Configure logger ``name``: console (rank 0 only) and ``output_dir/log.txt`` (``log.txt.rank{r}`` elsewhere).

    Safe to call again (e.g. for a second run in the same process): the previous log file is closed,
    and the console handler is never duplicated.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    fmt = logging.Formatter("[%(asctime)s %(name)s]: %(message)s", datefmt="%m/%d %H:%M:%S")
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler) or distributed_rank > 0:
            logger.removeHandler(handler)
            handler.close()
    if distributed_rank == 0 and not logger.handlers:
        console = _Console()
        console.setLevel(logging.INFO)
        console.setFormatter(fmt)
        logger.addHandler(console)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        filename = os.path.join(output_dir, "log.txt" if distributed_rank == 0 else f"log.txt.rank{distributed_rank}")
        file_handler = _LogFile(filename)
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(fmt)
        logger.addHandler(file_handler)
    return logger


class _Console(logging.StreamHandler):
    """The console handler: writes to ``sys.stdout`` as it is when a record is emitted (a stdout replaced after
    setup, e.g. captured and closed again, is never written to)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


class _LogFile(logging.FileHandler):
    """``log.txt``: when it cannot be written (a full disk) one line says so and the file is given up; the console
    log and the run go on (logging's default prints a traceback for every record)."""

    failed = False

    def emit(self, record):
        if not self.failed:
            super().emit(record)

    def handleError(self, record):
        self.failed = True
        error = sys.exc_info()[1]
        print(f"warning: {self.baseFilename}: cannot write the log ({getattr(error, 'strerror', None) or error}); "
              "logging to the console only", file=sys.stderr)
