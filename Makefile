# Thin wrapper around CMake. `make run` and `make test` each work on a fresh Debian 12 machine.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)

.PHONY: setup setup-build configure build test test-sanitize test-install run bench fuzz format clean install package

FUZZ_SECONDS ?= 60

setup:
	@bash scripts/setup.sh

# Only what building needs (make install / make package on a host that runs pythond).
setup-build:
	@bash scripts/setup.sh build

configure: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The .deb is built first: tests/e2e/test_package.py installs it (as root; skipped otherwise).
test: setup package
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

# The same tests on an AddressSanitizer + UndefinedBehaviorSanitizer build (CI runs both).
test-sanitize: setup
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPYTHOND_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan-suppressions.txt:print_suppressions=0 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900 -E clang_format

# `make install [PREFIX=/usr/local] [DESTDIR=/stage]` (docs/INSTALL.md): the binary, worker
# and SDK, the systemd unit, and the root PREFIX's etc/pythond (conf.d samples, python.d).
PREFIX ?= /usr/local
install: setup-build
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD_DIR) --strip

# `make package`: $(BUILD_DIR)/pythond_<version>_<arch>.deb, installing under /usr, /etc/pythond,
# /var/lib/pythond and /var/log/pythond (docs/INSTALL.md).
package: setup-build
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)
	@cd $(BUILD_DIR) && cpack -G DEB && ls -l pythond_*.deb

# CI: `make install` into a staging folder with the default PREFIX, checked by
# scripts/check-install.sh (the .deb is tested by make test).
INSTALL_STAGE ?= /tmp/pythond-install-stage
test-install:
	@rm -rf $(INSTALL_STAGE)
	@$(MAKE) --no-print-directory install PREFIX=/usr/local DESTDIR=$(INSTALL_STAGE)
	@bash scripts/check-install.sh $(INSTALL_STAGE) /usr/local
	@rm -rf $(INSTALL_STAGE)

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
