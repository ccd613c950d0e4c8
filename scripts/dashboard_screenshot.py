#!/usr/bin/env python3
"""Takes docs/dashboard.png: a few simulated station runs (two lines, good
and wrong parts) into a fresh SQLite store, `flashcheck dashboard` on a
free loopback port, and the page in headless Chromium (Debian's chromium and
chromium-driver, through selenium).  tests/test_dashboard.py opens its
browser with :func:`headless_chromium` from here.

    python scripts/dashboard_screenshot.py [--out docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def browser_missing() -> str | None:
    """Why no browser can be driven here, or None."""
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "no chromium: apt-get install chromium chromium-driver (scripts/test.sh does as root)"
    if not shutil.which("chromedriver") and not os.path.exists("/usr/bin/chromedriver"):
        return "no chromedriver: apt-get install chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium missing: pip install '.[test]'"
    return None


def headless_chromium(width: int = 1280, height: int = 1500):
    """A selenium driver on the system's Chromium, headless, with a new empty
    profile, no network services of its own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='fc-chromium-')}"):
        opts.add_argument(flag)
    opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(driver), options=opts)


def start_dashboard(db: str, *extra: str, env=None) -> tuple[subprocess.Popen, str]:
    """`flashcheck dashboard` on a free loopback port; (process, page URL)."""
    listen = [] if "--listen" in extra else ["--listen", "127.0.0.1:0"]
    proc = subprocess.Popen([sys.executable, "-m", "flashcheck.cli", "dashboard", "--db", db, *listen, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    line = proc.stdout.readline()
    m = re.search(r"(http://\S+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"dashboard did not start: {line!r} {proc.stderr.read()}")
    return proc, m.group(1)


def _station(db: str, name: str, count: int, *urls: str) -> None:
    args = [a for u in urls for a in ("--url", u)]
    res = subprocess.run([sys.executable, "-m", "flashcheck.cli", "station", *args, "--board", "imp003",
                          "--expect", "W25Q128JVSIQ", "--db", db, "--count", str(count), "--no-wait", "--plain",
                          "--station", name], check=False, capture_output=True, text=True)
    if res.returncode not in (0, 1):
        raise RuntimeError(f"station {name}: {res.stderr.strip()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "dashboard.png")
    args = ap.parse_args()
    why = browser_missing()
    if why:
        print(f"dashboard_screenshot: {why}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("FLASHCHECK_DATA_DIR", str(Path(tmp) / "data"))
        os.environ.setdefault("FLASHCHECK_JOURNAL_DIR", str(Path(tmp) / "journal"))
        db = f"sqlite:///{Path(tmp) / 'line.db'}"
        # a fixture is a URL: the same model on several fixtures differs by its (unused) time scale
        good = [f"sim://W25Q128JV?time_scale=0.00{i}" for i in (1, 2, 3)]
        _station(db, "line-1", 12, *good)
        _station(db, "line-2", 8, good[0], "sim://S25FL127S", good[1], "sim://MX25L12835F")
        proc, url = start_dashboard(db)
        driver = headless_chromium()
        try:
            driver.get(url)
            end = time.monotonic() + 30
            while driver.find_element("id", "boards").text != "20" and time.monotonic() < end:
                time.sleep(0.2)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(timeout=20)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
