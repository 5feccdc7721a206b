# The two commands of the README. CMake does the building; this file only
# installs what is missing, picks the build flavour and runs.
#   make run    install, build Release in build/, start dropind on 127.0.0.1:8080
#   make test   install (+ test deps), build with -Werror and ASan+UBSan in
#               build-asan/, run every unit and integration test through ctest
#   make mutants  the mutant suite (tests/mutants/run.sh), not part of test
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run test build build-asan deps test-deps clean mutants

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

# The mutant suite (tests/mutants/, README "Mutants"): each mutant patched
# into a scratch copy, built and tested; prints killed/survived and a total.
mutants: test-deps
	tests/mutants/run.sh

clean:
	rm -rf build build-asan
