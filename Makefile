# Kith: `make demo` runs a local relay and three nodes; `make test` runs the tests.
SWIFT ?= swift

.PHONY: demo test bench build deps vectors clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build --product kith

demo: build
	@scripts/demo.sh

# Builds everything (the tests run the kith binary), then runs the suite.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest

# Speed beside floors measured in the same run (release build).
bench: deps
	$(SWIFT) build -c release --product kith
	.build/release/kith bench

# Regenerates Tests/KithProtocolTests/Vectors (only when the protocol changes).
vectors: deps
	$(SWIFT) run kith-vectors Tests/KithProtocolTests/Vectors

clean:
	rm -rf .build
