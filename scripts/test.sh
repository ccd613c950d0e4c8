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
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps . >/dev/null
"$venv/bin/python" -m pip install -q ".[test]"
# src/ layout: `import flashcheck` finds the installed package, not the tree.
exec "$venv/bin/python" -m pytest -p no:cacheprovider tests "$@"
