# Lodge. `make demo` and `make test` are the two commands a new machine needs.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export HOME ?= /root
# No VCS stamping: CI checkouts may be owned by another user than the one building.
export GOFLAGS := -buildvcs=false
export GOTOOLCHAIN := local
export CGO_ENABLED := 1

GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build deps demo test unit e2e vet lint bench clean

all: build

# lodged is linked statically (glibc and libseccomp, as runc's releases are):
# it re-executes itself for every container start and exec, and without the
# dynamic loader that costs about 0.3 ms instead of 0.55. osusergo/netgo
# keep user and DNS lookups out of glibc's NSS, which a static binary lacks.
LODGED_TAGS := seccomp osusergo netgo

build: build-deps-present
	$(GO) build -tags '$(LODGED_TAGS)' -ldflags '-extldflags "-static"' -o bin/lodged ./cmd/lodged
	$(GO) build -o bin/lodge ./cmd/lodge

deps:
	./scripts/install-deps.sh

# A machine without the build packages gets one line saying what to run,
# not cgo's pkg-config error about libseccomp.
.PHONY: build-deps-present
build-deps-present:
	@command -v gcc >/dev/null && command -v pkg-config >/dev/null && pkg-config --exists libseccomp \
	  && [ -e "$$(gcc -print-file-name=libc.a)" ] \
	  || { echo "make build: the build packages (gcc, libc6-dev, pkg-config, libseccomp-dev) are missing: run 'make deps' as root first" >&2; exit 1; }

# Install what is missing, start lodged, launch a busybox container, run commands in it.
demo: deps build
	./scripts/demo.sh

# The whole suite: static checks, unit tests, end-to-end tests against real lodged.
test: deps build lint unit e2e

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) -tags seccomp ./...

vet:
	$(GO) vet -tags seccomp ./...

unit:
	$(GO) test -race -tags seccomp -count=1 ./api/... ./client/... ./internal/...

e2e: build
	$(GO) test -tags seccomp -count=1 -timeout 25m -v ./test/ 2>&1 | tee test/e2e.log | grep -E '^(=== RUN|--- |\s+--- |PASS|FAIL|ok|panic|\s+\S+_test.go)' ; \
	  exit $${PIPESTATUS[0]}

bench: deps build
	./bench/run.sh

clean:
	rm -rf bin
