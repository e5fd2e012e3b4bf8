"""Memory of a process tree as Linux reports it: PSS (shared pages divided among the processes sharing them)."""
import os


def process_tree(pid=None):
    """``pid`` (default: this process) and all its descendants that are still alive (Linux ``/proc``)."""
    pids, todo = [], [pid or os.getpid()]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except FileNotFoundError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except FileNotFoundError:
                pass
    return pids


def smaps_rollup(pid):
    """``/proc/<pid>/smaps_rollup`` as ``{field: bytes}`` (``Rss``, ``Pss``, ``Private_Dirty``, ...); empty if the
    process has exited."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            lines = f.read().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    fields = (line.split() for line in lines[1:])
    return {parts[0].rstrip(":"): int(parts[1]) * 1024 for parts in fields if len(parts) == 3 and parts[2] == "kB"}


def pss_bytes(pid):
    """Proportional set size of one process in bytes; 0 if it has exited."""
    return smaps_rollup(pid).get("Pss", 0)


def summed_pss(pid=None):
    """PSS of ``pid`` (default: this process) plus all its descendants (e.g. data-loader workers), in bytes."""
    return sum(pss_bytes(p) for p in process_tree(pid))
