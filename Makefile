# Thin wrapper around CMake. `make run` and `make test` each work on a fresh Debian 12 machine.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: setup configure build test test-sanitize run bench fuzz format clean

FUZZ_SECONDS ?= 60

setup:
	@bash scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

# The same tests on an AddressSanitizer + UndefinedBehaviorSanitizer build (CI runs both).
test-sanitize: setup
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPYTHOND_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan-suppressions.txt:print_suppressions=0 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900 -E clang_format

run: build
	@bash scripts/run-example.sh

bench: build
	@bash bench/run.sh

# libFuzzer targets with ASan+UBSan, FUZZ_SECONDS each (fuzz/README.md).
fuzz: setup
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

format:
	@clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'bench/*.cc' 'tests/*.cc' 'tests/*.h' 'fuzz/*.cc' 'fuzz/*.h')

clean:
	rm -rf $(BUILD_DIR)
