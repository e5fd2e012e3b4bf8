"""One rank of a stylize run over several processes (``stylize_net.py --num-gpus N``, several machines, torchrun).

:class:`RankRun` wraps a rank's work: rank 0 first folds the manifest parts a stopped run left behind into
``manifest.json`` (so every rank sees the same finished images and skips them), all ranks meet at a barrier, then
each writes its entries into its own manifest part (:mod:`.parts`) and keeps a status file (:mod:`.ranks`). At the
end rank 0 waits for the others and merges the parts. When a rank fails or is lost the others stop, and the
process exits with the one-line cause recorded in its status file (the launching process prints it).
"""
import logging
import sys
import traceback

from localstyle.stylize.parts import ManifestPart, merge_parts
from localstyle.stylize.ranks import RankStatus, clear_statuses, describe_input, read_status
from localstyle.utils.cli import launched_by_torchrun
from localstyle.utils.errors import LocalstyleError, one_line

logger = logging.getLogger(__name__)
RERUN = "rerun the same command (any number of processes) to do what is missing"


class RankRun:
    """``with RankRun(output_dir, rank, world_size, barrier, timeout) as run:`` -> ``run.manifest`` (for the
    runners), ``run.on_input(paths)``, ``run.totals`` (rank 0, after the block: every rank's summary)."""

    def __init__(self, output_dir, rank, world_size, barrier, timeout):
        self.output_dir, self.rank, self.world_size, self.barrier, self.timeout = (
            output_dir, rank, world_size, barrier, timeout)
        self.status, self.manifest, self.summary, self.totals = None, None, {}, []

    def __enter__(self):
        if self.rank == 0:
            merged = merge_parts(self.output_dir)
            if merged:
                print(f"stylize: merged {merged} manifest parts of an earlier run into manifest.json")
            clear_statuses(self.output_dir)
        if self.world_size > 1:
            self.barrier()  # nobody reads manifest.json before rank 0 has merged it
            self.status = RankStatus(self.output_dir, self.rank, self.world_size, self.timeout)
            self.manifest = ManifestPart(self.output_dir, self.rank)
        return self

    def on_input(self, paths):
        """Record the inputs this rank is on (for the message naming it if it is lost)."""
        if self.status is not None:
            self.status.on_input(paths)

    def __exit__(self, kind, error, tb):
        if self.status is None:
            return False
        if kind is None:
            self.status.state["summary"] = self.summary
            if self.rank == 0:
                try:
                    self.status.wait_for_others()  # still beating and watching: a rank lost now stops this wait
                except KeyboardInterrupt as e:
                    self._fail(KeyboardInterrupt, e, None)
            self.status.finish("done")
            if self.rank == 0:
                merge_parts(self.output_dir)
                self.totals = [read_status(self.output_dir, r).get("summary", {}) for r in range(self.world_size)]
            return False
        self._fail(kind, error, tb)

    def _fail(self, kind, error, tb):
        """Record why this rank stops (another rank lost, Ctrl-C, an error) and exit the process."""
        on = describe_input(self.status.state["input"])
        if kind is KeyboardInterrupt:  # another rank lost (the watchdog interrupted us), or Ctrl-C
            cause = self.status.cause or f"rank {self.rank} interrupted (Ctrl-C) while on {on}"
            cause, code = with_rerun_hint(cause), 3 if self.status.cause else 130
        else:
            cause, code = f"rank {self.rank} failed while on {on}: {one_line(error)}", 2
            if not isinstance(error, LocalstyleError):
                traceback.print_exception(kind, error, tb)
        self.status.finish("failed", cause)
        if launched_by_torchrun():  # no localstyle parent process to print it
            print(f"error: {cause}", file=sys.stderr)
        raise SystemExit(code)


def lost_rank_message(output_dir, rank, exit_code, signal_name=None, raised=""):
    """The one line a launching process prints when rank ``rank`` exited with ``exit_code``: the cause it recorded
    (also when it stopped because another rank was lost), else how it died (``raised``: the exception it raised
    before it could record one) and the input it was on."""
    status = read_status(output_dir, rank)
    how = raised or (f"killed by {signal_name}" if signal_name else f"exit status {exit_code}")
    return status.get("cause") or with_rerun_hint(f"rank {rank} died ({how}) while on "
                                                  f"{describe_input(status.get('input'))}")


def with_rerun_hint(cause):
    """``cause`` and how to finish the run (once)."""
    return cause if cause.endswith(RERUN) else f"{cause}; {RERUN}"
