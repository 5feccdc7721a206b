# The two commands of the README. CMake does the building; this file only
# installs what is missing, picks the build flavour and runs.
#   make run    install, build Release in build/, start dropind on 127.0.0.1:8080
#   make test   install (+ test deps), build with -Werror and ASan+UBSan in
#               build-asan/, run every unit and integration test through ctest
#   make mutants  the mutant suite (tests/mutants/run.sh), not part of test
#   make fuzz   build the libFuzzer targets with clang in build-fuzz/ and run
#               each for FUZZ_SECONDS (default 600) over its corpus
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run test build build-asan deps test-deps clean chaos mutants fuzz

deps:
	@tools/install-deps.sh

test-deps:
	@tools/install-deps.sh --test

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDROPIN_SANITIZE=OFF
	cmake --build build -j$(JOBS)

run: build
	build/bin/dropind -c conf/dropind.conf

build-asan: test-deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDROPIN_SANITIZE=ON -DDROPIN_WERROR=ON
	cmake --build build-asan -j$(JOBS)

test: build-asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS)

# Faults and attacks with real processes (issue 12): the tests marked slow
# (kill -9 in a cluster, Redis restarts, claim storms, slowloris, fd
# exhaustion), then the threaded code under ThreadSanitizer (unit tests
# racing SQLite writers and the WAL checkpointer; the whole gig flow over
# the worker pool), then one integration suite under valgrind memcheck.
# Each step must report nothing.
PYTEST = /usr/bin/python3 -m pytest -q -p no:cacheprovider -rs
TSAN_UNITS = test_store_sqlite test_store_conformance_sqlite
chaos: build-asan
	DROPIND=$(CURDIR)/build-asan/bin/dropind DROPIN_SOURCE_DIR=$(CURDIR) \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 $(PYTEST) -m slow tests/integration
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDROPIN_TSAN=ON -DDROPIN_WERROR=ON
	cmake --build build-tsan -j$(JOBS) --target dropind $(TSAN_UNITS)
	for t in $(TSAN_UNITS); do \
	  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 DROPIN_SOURCE_DIR=$(CURDIR) \
	    build-tsan/tests/$$t || exit 1; done
	DROPIND=$(CURDIR)/build-tsan/bin/dropind DROPIN_SOURCE_DIR=$(CURDIR) \
	  TSAN_OPTIONS=halt_on_error=1:exitcode=66 $(PYTEST) -m "not slow" tests/integration/test_gig_flow.py
	cmake -S . -B build-vg -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDROPIN_WERROR=ON
	cmake --build build-vg -j$(JOBS) --target dropind
	DROPIND=$(CURDIR)/build-vg/bin/dropind DROPIN_SOURCE_DIR=$(CURDIR) \
	  DROPIND_PREFIX="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	  DROPIND_START_TIMEOUT=120 DROPIND_STOP_TIMEOUT=120 \
	  $(PYTEST) -m "not slow" tests/integration/test_foundation.py

# The mutant suite (tests/mutants/, README "Mutants"): each mutant patched
# into a scratch copy, built and tested; prints killed/survived and a total.
mutants: test-deps
	tests/mutants/run.sh

FUZZ_SECONDS ?= 600
FUZZERS = fuzz_codec fuzz_rest fuzz_http fuzz_record fuzz_bson fuzz_config fuzz_gig

fuzz: test-deps
	tests/fuzz/run.sh build
	@rc=0; for f in $(FUZZERS); do \
	  tests/fuzz/run.sh run $$f $(FUZZ_SECONDS) keep || { echo "fuzz: $$f FAILED"; rc=1; }; \
	done; exit $$rc

clean:
	rm -rf build build-asan build-tsan build-vg build-fuzz
