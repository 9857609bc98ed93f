#!/usr/bin/env bash
# Fails when any C++ file differs from what clang-format (.clang-format) would write.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files 'src/*.cc' 'src/*.h' 'bench/*.cc' 'tests/*.cc' 'tests/*.h' 'fuzz/*.cc' \
  'fuzz/*.h' 2>/dev/null || true)
[ -n "$files" ] || files=$(find src bench tests fuzz -name '*.cc' -o -name '*.h')
bad=0
for f in $files; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: clang-format -i $f)"
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "clang-format: all files formatted"
exit $bad
