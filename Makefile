# Kith: `make demo` runs a local relay and three nodes; `make test` runs the tests.
SWIFT ?= swift

.PHONY: demo test test-deps browser-test bench bench-postgres build deps vectors fuzz clean dist dist-test

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	$(SWIFT) build --product kith

demo: build
	@scripts/demo.sh

# Builds everything (the tests run the kith binary), then runs the suite in
# two processes: the command-line tests wait on child processes, and apart
# they cannot take the threads that the in-process relays of the other suites
# need; then the web app in a real browser (browser-test); then every fuzz
# target briefly (two at a time) so a decoder that traps fails the tests.
# Each suite runs beside a throwaway PostgreSQL server of its own
# (scripts/with-postgres.sh), for the relay's PostgreSQL store.
test: test-deps
	$(SWIFT) build --build-tests
	scripts/with-postgres.sh $(SWIFT) test --skip-build --disable-xctest --skip KithCLITests
	scripts/with-postgres.sh $(SWIFT) test --skip-build --disable-xctest --filter KithCLITests
	$(MAKE) browser-test
	SWIFT=$(SWIFT) scripts/fuzz.sh --seconds $(FUZZ_SMOKE_SECONDS) --jobs 2

# The web app in headless Chromium against real daemons and a relay
# (scripts/browser-test.sh, tests/browser): runs the kith binary already
# built; screenshots in .build-browser/screenshots.
browser-test:
	scripts/browser-test.sh

# Fuzzes every decoder with libFuzzer for FUZZ_SECONDS each (scripts/fuzz.sh;
# builds into .build-fuzz, leaves crash inputs in .build-fuzz/crashes).
FUZZ_SECONDS ?= 180
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_JOBS ?= 1
fuzz: deps
	SWIFT=$(SWIFT) scripts/fuzz.sh --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS)

# Speed beside floors measured in the same run (release build).
bench: deps
	$(SWIFT) build -c release --product kith
	.build/release/kith bench

# The postgres case alone (relays on PostgreSQL beside SQLite, and the
# 1,000,000-envelope case), on a throwaway server (scripts/with-postgres.sh).
bench-postgres: test-deps
	$(SWIFT) build -c release --product kith
	scripts/with-postgres.sh sh -c 'KITH_RELAY_STORE_PASSWORD="$$KITH_TEST_POSTGRES_PASSWORD" .build/release/kith bench --only postgres --postgres "$$KITH_TEST_POSTGRES"'

# dist/kith: one release binary that needs no Swift on the machine it runs
# on, only the system's libc, libsqlite3 and libqrencode (Debian has no static
# libqrencode) (README, "Running Kith at home").
# The Swift runtime and Foundation are linked statically; so are libsodium,
# zlib, the image libraries (libjpeg, libpng16, libwebp), libstdc++ and
# libgcc. All but libgcc are found as archives in a folder that holds nothing
# else, named first to the linker: by a copy of libsodium.pc whose libdir is
# that folder (SwiftPM would otherwise name the system's library folder
# first, where the shared libraries are) and by -L; and by a copy of
# libqrencode.pc that names no folder, since its own -L would put the
# system's library folder first again. libm stays shared, from
# libc. Needs zlib1g-dev too. Its own build folder, so other builds are not relinked.
# The debugging information is stripped; the symbols crash reports name stay.
DIST_BUILD ?= .build-dist
DIST_STATIC = $(CURDIR)/$(DIST_BUILD)/static-libs
dist: deps
	mkdir -p $(DIST_STATIC)/pkgconfig dist
	cp "$$(pkg-config --variable=libdir libsodium)/libsodium.a" "$$(pkg-config --variable=libdir zlib)/libz.a" \
	   "$$(pkg-config --variable=libdir libjpeg)/libjpeg.a" "$$(pkg-config --variable=libdir libpng16)/libpng16.a" \
	   "$$(pkg-config --variable=libdir libwebp)/libwebp.a" "$$($(CC) -print-file-name=libstdc++.a)" $(DIST_STATIC)/
	sed 's|^libdir=.*|libdir=$(DIST_STATIC)|' "$$(pkg-config --path libsodium)" > $(DIST_STATIC)/pkgconfig/libsodium.pc
	sed 's|^Libs:.*|Libs: -lqrencode|' "$$(pkg-config --path libqrencode)" > $(DIST_STATIC)/pkgconfig/libqrencode.pc
	PKG_CONFIG_PATH=$(DIST_STATIC)/pkgconfig $(SWIFT) build -c release --product kith --scratch-path $(DIST_BUILD) \
	    --static-swift-stdlib -Xlinker -L$(DIST_STATIC) -Xswiftc -Xclang-linker -Xswiftc -static-libgcc
	install -m 0755 $(DIST_BUILD)/release/kith dist/kith
	strip --strip-debug dist/kith
	@ls -l dist/kith

# Checks that dist/kith links only what the system may provide, then runs it
# in a Debian 12 without Swift (scripts/dist-test.sh).
dist-test: dist
	scripts/dist-test.sh dist/kith

# Regenerates Tests/KithProtocolTests/Vectors (only when the protocol changes).
vectors: deps
	$(SWIFT) run kith-vectors Tests/KithProtocolTests/Vectors

clean:
	rm -rf .build .build-fuzz .build-dist .build-browser dist
