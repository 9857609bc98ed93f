#!/usr/bin/env bash
# Checks a `make install PREFIX=... DESTDIR=...` tree (docs/INSTALL.md), for CI's
# `make test-install`: every file where GNUInstallDirs puts it for PREFIX, the unit and
# agent.conf naming PREFIX's paths, and the staged binary running the seed's script with the
# staged worker and SDK. Usage: check-install.sh STAGE PREFIX
set -euo pipefail
stage=$1
prefix=$2
case "$prefix" in
/usr) etc=/etc var=/var ;;
/opt/*) etc=/etc$prefix var=/var$prefix ;;
*) etc=$prefix/etc var=$prefix/var ;;
esac
root=$etc/pythond state=$var/lib/pythond logs=$var/log/pythond
fail() {
  echo "check-install: $*" >&2
  exit 1
}
expect_file() { [ -f "$stage$1" ] || fail "missing file $1 (under $stage)"; }
expect_dir() { [ -d "$stage$1" ] || fail "missing folder $1 (under $stage)"; }
expect_line() { grep -qxF -- "$2" "$stage$1" || fail "$1 lacks the line: $2"; }

expect_file "$prefix/bin/pythond"
[ -x "$stage$prefix/bin/pythond" ] || fail "$prefix/bin/pythond is not executable"
expect_file "$prefix/share/pythond/python/pythond_worker.py"
expect_file "$prefix/share/pythond/python/datakit_framework.py"
expect_file "$prefix/share/man/man1/pythond.1.gz"
expect_file "$prefix/lib/pythond/pythond.so"
expect_file "$prefix/share/doc/pythond/INSTALL.md"
expect_file "$root/conf.d/agent.conf"
expect_file "$root/conf.d/agent.conf.sample"
expect_file "$root/conf.d/pythond/pythond.conf.sample"
expect_dir "$state"
expect_dir "$logs"
link=$(readlink "$stage$root/python.d/core/datakit_framework.py") || fail "no SDK link in python.d/core"
[ "$link" = "$prefix/share/pythond/python/datakit_framework.py" ] || fail "the SDK link points to $link"
unit=$prefix/lib/systemd/system/pythond.service
expect_file "$unit"
expect_line "$unit" "ExecStart=$prefix/bin/pythond run --root $root"
expect_line "$unit" "ReadWritePaths=-$state -$logs"
expect_line "$unit" "Environment=PYTHONPYCACHEPREFIX=$state/pycache"
expect_line "$root/conf.d/agent.conf" "state_dir = \"$state\""
expect_line "$root/conf.d/agent.conf" "file = \"$logs/pythond.log\""
readelf -S "$stage$prefix/bin/pythond" | grep -q debug_info && fail "the binary is not stripped"

bin=$stage$prefix/bin/pythond
# The staged binary finds the staged worker and SDK next to itself.
got=$(env -u PYTHOND_PYTHON_DIR "$bin" version --python-dir)
[ "$got" = "$stage$prefix/share/pythond/python" ] || fail "version --python-dir says $got"
# The seed's steps on the staged root (its state_dir is the final one, so only check and
# test, which write nothing there): the sample as pythond.conf, the seed's script.
cp "$stage$root/conf.d/pythond/pythond.conf.sample" "$stage$root/conf.d/pythond/pythond.conf"
mkdir -p "$stage$root/python.d/mytest"
cat >"$stage$root/python.d/mytest/test.py" <<'PY'
from datakit_framework import DataKitFramework

class MyTest(DataKitFramework):
    name = 'MyTest'
    interval = 10

    def run(self):
        data = [{"measurement": "abc", "tags": {"t1": "b", "t2": "d"},
                 "fields": {"f1": 123, "f2": 3.4, "f3": "strval"}}]
        return self.report({'M': data, 'input': "datakitpy"})
PY
out=$(env -u PYTHOND_PYTHON_DIR "$bin" check --root "$stage$root") || fail "pythond check failed: $out"
grep -q "OK: 1 input(s), 1 plugin(s), 0 error(s)" <<<"$out" || fail "pythond check said: $out"
out=$(env -u PYTHOND_PYTHON_DIR "$bin" test --root "$stage$root" some-python-inputs) ||
  fail "pythond test failed: $out"
grep -q '^abc,' <<<"$out" || fail "pythond test printed no abc point: $out"
echo "check-install: $stage$prefix OK (root $root, state $state, logs $logs)"
