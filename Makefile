# The two commands of the README. CMake does the building; this file only
# installs what is missing, picks the build flavour and runs.
#   make run    install, build Release in build/, start dropind on 127.0.0.1:8080
#   make test   install (+ test deps), build with -Werror and ASan+UBSan in
#               build-asan/, run every unit and integration test through ctest
#   make fuzz   build the libFuzzer targets with clang in build-fuzz/ and run
#               each for FUZZ_SECONDS (default 600) over its corpus
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run test build build-asan deps test-deps clean fuzz

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

FUZZ_SECONDS ?= 600
FUZZERS = fuzz_codec fuzz_rest fuzz_http fuzz_record fuzz_bson fuzz_config fuzz_gig

fuzz: test-deps
	tests/fuzz/run.sh build
	@rc=0; for f in $(FUZZERS); do \
	  tests/fuzz/run.sh run $$f $(FUZZ_SECONDS) keep || { echo "fuzz: $$f FAILED"; rc=1; }; \
	done; exit $$rc

clean:
	rm -rf build build-asan build-fuzz
