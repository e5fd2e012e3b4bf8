#!/usr/bin/env python
"""Report or clear the cache of predictors exported on the fly (``MODEL.EXPORTED`` empty).

    python tools/export_cache.py            # one line per entry, then the total against the cap
    python tools/export_cache.py --clear    # remove every entry

The cache lives in ``$LOCALSTYLE_CACHE/exported`` (default ``~/.cache/localstyle/exported``); each entry is one
predictor per weights, model settings, format and precision. It is trimmed to ``$LOCALSTYLE_EXPORT_CACHE_MB``
(default 2048) MB after every export, least recently used entries first.
"""
import shutil
import time

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import cli_errors


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--clear", action="store_true", help="remove every cached exported predictor")
    return parser


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.export.cache import cache_cap_bytes, cache_entries, cache_root

    entries = cache_entries()
    if args.clear:
        for e in entries:
            shutil.rmtree(e.folder, ignore_errors=True)
        print(f"cleared {len(entries)} entries ({sum(e.size for e in entries) / 2**20:.1f} MB) from {cache_root()}")
        return entries
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used))
        print(f"{e.folder}  {e.size / 2**20:8.1f} MB  last used {used}  {' '.join(e.files)}")
    print(f"{cache_root()}: {len(entries)} entries, {sum(e.size for e in entries) / 2**20:.1f} MB "
          f"(cap {cache_cap_bytes() / 2**20:.0f} MB, LOCALSTYLE_EXPORT_CACHE_MB)")
    return entries


if __name__ == "__main__":
    main()
