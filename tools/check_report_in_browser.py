#!/usr/bin/env python
"""Open a report page in headless Chromium and check it renders offline: its tables and inline SVG plots are
in the rendered DOM, and the page made no network request (every request would have gone through a
recording proxy started here). Optionally saves a screenshot.

    apt-get install -y chromium-headless-shell     # Debian (or chromium: its own update/sign-in calls are
                                                   # then left out of the count)
    python tools/check_report_in_browser.py reports/person/report.html [--screenshot report.png]

Prints the counts and exits 1 when a check fails (2 when Chromium is missing).
"""
import dataclasses
import http.server
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
# The full browser (not the headless shell) calls these itself whatever the page; its other traffic is turned off.
BROWSER_SERVICE_HOSTS = ("update.googleapis.com", "accounts.google.com", "clients2.google.com")
# Keep the browser's own background traffic (updates, sign-in, metrics) off, so that any request seen is the page's.
QUIET_BROWSER = ("--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                 "--disable-component-update", "--disable-default-apps", "--disable-client-side-phishing-detection",
                 "--disable-domain-reliability", "--no-pings", "--metrics-recording-only", "--disable-breakpad",
                 "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,"
                 "NetworkTimeServiceQuerying,SignInProfileCreation,PushMessaging")


@dataclasses.dataclass
class PageCheck:
    """What the browser saw: counts of ``<table>``, ``<svg>`` and ``<figure>`` elements in the rendered DOM and
    the network requests the page made (``"METHOD url"``)."""

    tables: int
    svgs: int
    figures: int
    requests: list


def find_browser():
    """The Chromium executable on PATH, or ``None``."""
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


class _Recorder(http.server.BaseHTTPRequestHandler):
    def _record(self):
        self.server.requests.append(f"{self.command} {self.path}")
        self.send_error(403)

    do_GET = do_POST = do_HEAD = do_CONNECT = do_PUT = do_OPTIONS = _record

    def log_message(self, *args):
        pass


def check_page(html_path, screenshot=None, timeout=120):
    """Load ``html_path`` in headless Chromium with every request sent to a recording proxy; return a
    :class:`PageCheck` (and write ``screenshot`` as PNG when given)."""
    browser = find_browser()
    if browser is None:
        raise LocalstyleError(f"no Chromium found (looked for {', '.join(BROWSERS)}); "
                              f"apt-get install chromium-headless-shell")
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    proxy.requests = []
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    url = pathlib.Path(html_path).resolve().as_uri()
    try:
        with tempfile.TemporaryDirectory() as profile:
            base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    *QUIET_BROWSER, "--hide-scrollbars",
                    f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{proxy.server_port}",
                    "--proxy-bypass-list=<-loopback>", "--virtual-time-budget=3000"]
            dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=timeout,
                                 check=True).stdout
            if screenshot:
                subprocess.run(base + ["--window-size=1400,2400", f"--screenshot={os.path.abspath(screenshot)}", url],
                               capture_output=True, timeout=timeout, check=True)
    except subprocess.CalledProcessError as e:
        raise LocalstyleError(f"{browser} failed on {html_path}: {e.stderr.strip().splitlines()[-1:]}") from None
    finally:
        proxy.shutdown()
        proxy.server_close()
    requests = list(proxy.requests)
    if not os.path.basename(browser).endswith("headless-shell"):  # the full browser's own calls, not the page's
        requests = [r for r in requests if not any(host in r for host in BROWSER_SERVICE_HOSTS)]
    return PageCheck(dom.count("<table"), dom.count("<svg"), dom.count("<figure"), requests)


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("html", help="the page to check, e.g. report.html")
    parser.add_argument("--screenshot", help="also save a PNG screenshot here")
    return parser


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    page = check_page(args.html, args.screenshot)
    print(f"{args.html}: {page.tables} table(s), {page.svgs} svg plot(s), {len(page.requests)} network request(s)")
    for request in page.requests:
        print(f"  request: {request}")
    if page.requests or not page.svgs or not page.tables:
        sys.exit(1)


if __name__ == "__main__":
    main()
