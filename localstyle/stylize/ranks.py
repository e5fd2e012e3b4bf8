"""Liveness of the ranks of a multi-process stylize run, through files in the (shared) output folder.

Each rank keeps ``<output>/.ranks/rank<r>.json`` up to date: its state (``running``, ``done``, ``failed``), the
input it is on, and a heartbeat counter that a thread bumps every few seconds. The same thread reads the other
ranks' files: when one failed, or its heartbeat has not moved for ``timeout`` seconds (killed, machine lost), this
rank stops too, with one line naming that rank and the input it was on. Files, not collectives: a dead peer cannot
make a file read hang, and the output folder is shared by all machines anyway (the manifest parts are merged there).
"""
import _thread
import json
import os
import shutil
import socket
import threading
import time

from localstyle.utils.file_io import atomic_write_json

STATUS_DIR = ".ranks"


def status_path(output_dir, rank):
    return os.path.join(output_dir, STATUS_DIR, f"rank{rank}.json")


def read_status(output_dir, rank):
    """The last status rank ``rank`` wrote (``{}`` when there is none)."""
    try:
        with open(status_path(output_dir, rank), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def clear_statuses(output_dir):
    """Remove the status files of an earlier run (rank 0 does this before the others start)."""
    shutil.rmtree(os.path.join(output_dir, STATUS_DIR), ignore_errors=True)


def describe_input(paths):
    """``a.jpg`` or ``a.jpg (+3 more in its batch)``."""
    if not paths:
        return "start-up (no input yet)"
    more = f" (+{len(paths) - 1} more in its batch)" if len(paths) > 1 else ""
    return f"{paths[0]}{more}"


class RankStatus:
    """This rank's status file and the thread that beats it and watches the other ranks (see module docstring).

    When another rank is lost, ``cause`` gets the one-line reason and the main thread is interrupted
    (``KeyboardInterrupt``); if it has not stopped ``grace`` seconds later, the process exits with status 3.
    """

    def __init__(self, output_dir, rank, world_size, timeout, grace=15.0):
        self.output_dir, self.rank, self.timeout, self.grace = output_dir, rank, timeout, grace
        self.period = max(0.2, min(5.0, timeout / 4))
        self.state = {"rank": rank, "state": "running", "input": [], "beat": 0, "host": socket.gethostname(),
                      "pid": os.getpid(), "cause": ""}
        self.cause = ""
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._seen = {r: (None, time.monotonic()) for r in range(world_size) if r != rank}  # beat, when it moved
        self._write()
        self._thread = threading.Thread(target=self._watch, name="rank-watchdog", daemon=True)
        self._thread.start()

    def on_input(self, paths):
        """Record the inputs this rank is working on now."""
        with self._lock:
            self.state["input"] = list(paths)
        self._write()

    def finish(self, state, cause=""):
        """Record the end of this rank's work (``done`` or ``failed`` with its one-line ``cause``); stop beating."""
        self._stop.set()
        with self._lock:
            self.state.update(state=state, cause=cause)
        self._write()

    def wait_for_others(self):
        """Block until every other rank is done (rank 0, before merging the manifest); a lost rank interrupts it."""
        while any(read_status(self.output_dir, r).get("state") != "done" for r in self._seen):
            time.sleep(self.period)

    def _write(self):
        with self._lock:
            atomic_write_json(status_path(self.output_dir, self.rank), self.state)

    def _watch(self):
        while not self._stop.wait(self.period):
            with self._lock:
                self.state["beat"] += 1
            self._write()
            cause = self._lost_rank()
            if cause:
                self.cause = cause
                _thread.interrupt_main()
                if not self._stop.wait(self.grace):
                    os._exit(3)  # stuck in a long native call: the outputs are written atomically, nothing is torn
                return

    def _lost_rank(self):
        """The one-line reason another rank is gone, or ``""``."""
        now = time.monotonic()
        for r, (beat, since) in list(self._seen.items()):
            status = read_status(self.output_dir, r)
            on = describe_input(status.get("input"))
            if status.get("state") == "failed":
                return status.get("cause") or f"rank {r} failed while on {on}"
            if status.get("state") == "done":
                continue
            if status.get("beat") != beat:
                self._seen[r] = (status.get("beat"), now)
            elif now - since > self.timeout:
                return (f"rank {r} stopped while on {on}: no heartbeat for {self.timeout:g} s "
                        f"(host {status.get('host', '?')}, pid {status.get('pid', '?')})")
        return ""
