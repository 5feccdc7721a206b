#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of tests/fuzz (see CMakeLists.txt).
#   tests/fuzz/run.sh build                  configure + build build-fuzz/ with clang
#   tests/fuzz/run.sh run NAME SECONDS       run NAME over its seed corpus; new
#                                            inputs go to a scratch directory
#   tests/fuzz/run.sh run NAME SECONDS keep  ... and are kept in build-fuzz/corpus/NAME
# Exits 77 (skipped) when clang or libFuzzer is missing. A crash leaves its input
# in $FUZZ_ARTIFACTS (default build-fuzz/artifacts): add it to
# tests/fuzz/corpus/NAME/ once fixed, so every `make test` replays it.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-$src/build-fuzz}"
fuzzers=(fuzz_codec fuzz_rest fuzz_http fuzz_record fuzz_bson fuzz_config fuzz_gig)

have_libfuzzer() {
  cc="$(command -v clang-14 || command -v clang || true)"
  [ -n "$cc" ] || return 1
  echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){(void)d;(void)n;return 0;}' \
    | "$cc" -x c -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null
}

case "${1:-}" in
build)
  if ! have_libfuzzer; then
    echo "fuzz: clang with libFuzzer not found (tools/install-deps.sh --test): skipped"
    exit 77
  fi
  mkdir -p "$build"
  # one build at a time (make fuzz and ctest may share build-fuzz)
  exec 9>"$build/.lock"
  flock 9
  CC="$cc" nice cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Fuzz \
    -DCMAKE_C_FLAGS="-O1 -g -fsanitize=fuzzer-no-link" \
    -DDROPIN_SANITIZE=ON -DDROPIN_WERROR=OFF -DDROPIN_FUZZ=ON >/dev/null
  nice cmake --build "$build" -j2 --target "${fuzzers[@]}"
  ;;
run)
  name="${2:?fuzzer name}"
  secs="${3:-20}"
  bin="$build/bin/$name"
  if [ ! -x "$bin" ]; then
    have_libfuzzer || { echo "fuzz: no libFuzzer: skipped"; exit 77; }
    echo "fuzz: $bin is not built (tests/fuzz/run.sh build)"
    exit 1
  fi
  seeds="$src/tests/fuzz/corpus/$name"
  art="${FUZZ_ARTIFACTS:-$build/artifacts}/$name"
  mkdir -p "$art"
  if [ "${4:-}" = keep ]; then
    out="$build/corpus/$name"
    mkdir -p "$out"
  else
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
  fi
  # abort_on_error off: libFuzzer reports and saves the input itself;
  # -error_exitcode=1: libFuzzer's default (77) is ctest's "skipped"
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    nice "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
      -print_final_stats=1 -artifact_prefix="$art/" -error_exitcode=1 "$out" "$seeds"
  ;;
*)
  sed -n '2,10p' "$0"
  exit 2
  ;;
esac
