# Kith: `make demo` runs a local relay and three nodes; `make test` runs the tests.
SWIFT ?= swift

.PHONY: demo test bench build deps vectors fuzz clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build --product kith

demo: build
	@scripts/demo.sh

# Builds everything (the tests run the kith binary), then runs the suite in
# two processes: the command-line tests wait on child processes, and apart
# they cannot take the threads that the in-process relays of the other suites
# need; then every fuzz target briefly (two at a time) so a decoder that traps
# fails the tests.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest --skip KithCLITests
	$(SWIFT) test --skip-build --disable-xctest --filter KithCLITests
	SWIFT=$(SWIFT) scripts/fuzz.sh --seconds $(FUZZ_SMOKE_SECONDS) --jobs 2

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

# Regenerates Tests/KithProtocolTests/Vectors (only when the protocol changes).
vectors: deps
	$(SWIFT) run kith-vectors Tests/KithProtocolTests/Vectors

clean:
	rm -rf .build .build-fuzz
