#!/usr/bin/env bash
# `make test`: the whole suite.  ansible-test sanity, ansible-lint and bandit run beside pytest (unit, then
# integration), at the lowest CPU and I/O priority, as do the builds of the host images and of the execution
# environment that later integration tests need; each of them is waited for and its status counts.
# Logs: tests/output/{sanity,lint,bandit,images}.log.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
out=tests/output
mkdir -p "$out"
py=.venv/bin/python
low() { nice -n 19 ionice -c 3 "$@"; }
started=$(date +%s)
pids=()
names=()
side() { # side NAME COMMAND...: run beside the tests, output to tests/output/NAME.log
    local name=$1
    shift
    ( low "$@" >"$out/$name.log" 2>&1 ) &
    pids+=($!)
    names+=("$name")
}
side sanity bash scripts/sanity.sh
side lint ansible-lint --profile production --offline
side bandit "$py" -m bandit -q -r plugins -c tests/bandit.yml
side images bash -c "$py tests/fleet/fleet.py build --suite trixie && bash awx/build-ee.sh && \
for s in docker28 bullseye; do $py tests/fleet/fleet.py build --suite \$s || exit 1; done"

# Two parallel workers, each with a fleet of its own (tests/fleet/fleet.py, DOCKYARD_FLEET_WORKER); a fleet test
# file's tests stay together on one worker (tests/integration/conftest.py marks each file's group), the unit tests
# are spread one by one.  DOCKYARD_TEST_WORKERS=0 runs everything in this process.
workers=${DOCKYARD_TEST_WORKERS:-2}
"$py" -m pytest -n "$workers" --dist loadgroup tests/unit tests/integration "$@"
rc=$?
for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
        echo "test: ${names[$i]} passed"
    else
        echo "test: ${names[$i]} FAILED; the end of $out/${names[$i]}.log:"
        tail -n 60 "$out/${names[$i]}.log"
        rc=1
    fi
done
echo "test: $(( $(date +%s) - started )) s in all"
exit $rc
