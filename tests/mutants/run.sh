#!/usr/bin/env bash
# tests/mutants/run.sh [NNN ...] - the mutant suite (`make mutants`).
#
# Each tests/mutants/NNN-name.patch is a small patch against the tree that
# breaks one promise. Its first line names the tests that must notice:
#     tests: SPEC [SPEC ...]
# where SPEC is one of
#     tests/integration/test_x.py[::case]        pytest on SQLite
#     mongo:tests/integration/test_x.py[::case]  pytest on the MongoDB-wire
#                                                test server (with_mongo.py;
#                                                a real mongod when MONGO_URI)
#     unit.test_x                                 a cmocka unit test
#     mongo:unit.test_x                           one under with_mongo.py
# For every mutant the tree is copied to a scratch directory (one, reused, so
# its build dir only recompiles what the patch and the previous one touched),
# the patch applied, the ASan build made, the tests run. A mutant is killed
# when a test fails, survived when all pass; a patch that no longer applies
# or does not build is reported as such (and counts as neither).
# Exit status 0 when every mutant was killed.
#   MUTANT_DIR   scratch directory (default /tmp/dropin-mutants-$USER)
#   MUTANT_JOBS  build parallelism (default 2)
#   MUTANT_TESTS specs to run instead of each mutant's own (to see whether
#                another test kills it too)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SCRATCH=${MUTANT_DIR:-/tmp/dropin-mutants-${USER:-$(id -u)}}
JOBS=${MUTANT_JOBS:-2}
PY=/usr/bin/python3
LOGDIR=$SCRATCH/logs
mkdir -p "$SCRATCH/tree" "$LOGDIR"

patches=()
if [ $# -gt 0 ]; then
    for n in "$@"; do patches+=("$ROOT"/tests/mutants/"$n"*.patch); done
else
    patches=("$ROOT"/tests/mutants/[0-9]*.patch)
fi

sync_tree() {
    # --checksum, no -t: only files that differ are copied, and they get a new
    # mtime, so the reused build dir rebuilds exactly what changed
    $PY "$ROOT/tests/mutants/sync_tree.py" "$ROOT" "$SCRATCH/tree"
    if [ -d "$ROOT/tools/mongo-test-server/node_modules" ] &&
       [ ! -e "$SCRATCH/tree/tools/mongo-test-server/node_modules" ]; then
        ln -s "$ROOT/tools/mongo-test-server/node_modules" \
              "$SCRATCH/tree/tools/mongo-test-server/node_modules"
    fi
}

run_spec() { # spec logfile
    local spec=$1 log=$2 T=$SCRATCH/tree B=$SCRATCH/tree/build-asan
    local env=(DROPIND="$B/bin/dropind" DROPIN_SOURCE_DIR="$T" DROPIN_BUILD_DIR="$B"
               ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
    case $spec in
    unit.*)
        (cd "$B" && env "${env[@]}" timeout 600 "$B/tests/${spec#unit.}") >>"$log" 2>&1 ;;
    mongo:unit.*)
        (cd "$B" && env "${env[@]}" timeout 900 $PY "$T/tests/integration/with_mongo.py" \
            "$B/tests/${spec#mongo:unit.}") >>"$log" 2>&1 ;;
    mongo:*)
        (cd "$T" && env "${env[@]}" DROPIN_TEST_STORE=mongodb \
            DROPIN_TOKEN_SECRET=test-secret-for-the-mongodb-suite-0123456789 \
            timeout 900 $PY tests/integration/with_mongo.py $PY -m pytest -x -q \
            -p no:cacheprovider "${spec#mongo:}") >>"$log" 2>&1 ;;
    *)
        (cd "$T" && env "${env[@]}" timeout 900 $PY -m pytest -x -q -p no:cacheprovider \
            "$spec") >>"$log" 2>&1 ;;
    esac
}

targets_for() { # specs... -> cmake targets (dropctl: test_admin.py runs it)
    local t="dropind dropctl"
    for s in "$@"; do
        case $s in unit.*) t="$t ${s#unit.}" ;; mongo:unit.*) t="$t ${s#mongo:unit.}" ;; esac
    done
    echo "$t"
}

killed=0; survived=0; broken=0; rows=()
for p in "${patches[@]}"; do
    [ -f "$p" ] || { echo "no such mutant: $p"; broken=$((broken + 1)); continue; }
    name=$(basename "$p" .patch)
    log=$LOGDIR/$name.log
    : >"$log"
    specs=${MUTANT_TESTS:-$(sed -n '1s/^tests:[[:space:]]*//p' "$p")}
    if [ -z "$specs" ]; then
        res="no-tests-line"; broken=$((broken + 1))
    else
        sync_tree
        if ! (cd "$SCRATCH/tree" && patch -p1 --quiet --no-backup-if-mismatch <"$p") >>"$log" 2>&1; then
            res="does-not-apply"; broken=$((broken + 1))
        elif ! { cmake -S "$SCRATCH/tree" -B "$SCRATCH/tree/build-asan" -DCMAKE_BUILD_TYPE=Debug \
                    -DDROPIN_SANITIZE=ON -DDROPIN_WERROR=ON >>"$log" 2>&1 &&
                 nice cmake --build "$SCRATCH/tree/build-asan" -j"$JOBS" \
                    --target $(targets_for $specs) >>"$log" 2>&1; }; then
            res="does-not-build"; broken=$((broken + 1))
        else
            res="survived"
            for s in $specs; do
                echo "== $s" >>"$log"
                if ! run_spec "$s" "$log"; then res="killed by $s"; break; fi
            done
            if [ "$res" = survived ]; then survived=$((survived + 1)); else killed=$((killed + 1)); fi
        fi
    fi
    printf '%-44s %s\n' "$name" "$res"
    rows+=("$name $res")
done
sync_tree # leave the scratch tree clean for the next run
total=${#patches[@]}
echo "mutants: $total, killed: $killed, survived: $survived, broken: $broken (logs: $LOGDIR)"
[ "$killed" -eq "$total" ]
