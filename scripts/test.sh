#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need on a fresh
# machine, then runs the whole suite against a real (non-editable) install,
# so the tests also prove that the package ships parts/ and hw/boards/.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages some tests drive as real peers. Installed when we can
# (root with apt-get); otherwise the tests that need them skip, saying why.
want=()
command -v flashrom >/dev/null 2>&1 || want+=(flashrom)
command -v pg_ctlcluster >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
# the dashboard's browser test: headless Chromium driven by selenium
command -v chromium >/dev/null 2>&1 || want+=(chromium)
command -v chromedriver >/dev/null 2>&1 || want+=(chromium-driver)
if [ ${#want[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${want[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null) \
      || echo "warning: could not install ${want[*]}; tests that need them will be skipped"
  else
    echo "note: not root or no apt-get; tests needing ${want[*]} will be skipped"
  fi
fi

venv=${FLASHCHECK_TEST_VENV:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
log=$(mktemp)
pip_install() {  # quiet unless it fails
  "$venv/bin/python" -m pip install -q "$@" >"$log" 2>&1 || { cat "$log"; echo "pip install $* failed"; exit 2; }
}
pip_install --force-reinstall --no-deps .
pip_install ".[test,dashboard,openhtf]"
rm -f "$log"
# src/ layout: `import flashcheck` finds the installed package, not the tree.
exec "$venv/bin/python" -m pytest -p no:cacheprovider -rs tests "$@"
