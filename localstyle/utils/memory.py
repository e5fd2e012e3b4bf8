"""Memory of a process tree as Linux reports it (PSS: shared pages divided among the processes sharing them), and
handing memory that glibc's malloc keeps free back to the system."""
import concurrent.futures
import ctypes
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


def _load_malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (AttributeError, OSError):
        return None


_MALLOC_TRIM = _load_malloc_trim()


def release_free_memory():
    """Give the free pages glibc's malloc keeps (in all its arenas, not only at the top of the heap) back to the
    system (``malloc_trim(0)``); returns whether it could (False where the C library has no ``malloc_trim``)."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


def in_separate_arena(fn, *args):
    """``fn(*args)`` run in a helper thread, then :func:`release_free_memory`; returns its result.

    glibc gives the thread its own malloc arena, so the temporaries ``fn`` creates and frees (e.g. a parsed JSON
    file) leave no free holes scattered through the main thread's heap: a process forked afterwards (a data-loader
    worker) then allocates in a compact heap instead of spreading over, and touching, pages of those holes."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(fn, *args).result()
    release_free_memory()
    return result
