# widescan: see README.md. Targets that install packages expect a Debian machine
# and root (the demo and the privileged tests build network namespaces).

GO       ?= go
BIN      := bin/widescan
export PATH := $(PATH):/usr/local/go/bin:$(shell $(GO) env GOPATH 2>/dev/null)/bin

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test test-short bench-smoke bench-wire demo peers-demo lint deps deps-demo deps-cuda kernels cuda-check clean

all: build

# build makes bin/widescan, and bin/widescan-gpu (the GPU worker, cuda tag)
# where the CUDA headers are installed (make deps-cuda).
build:
	$(GO) build -o $(BIN) ./cmd/widescan
	@if [ -f /usr/include/cuda.h ]; then \
		echo "$(GO) build -tags cuda -o bin/widescan-gpu ./cmd/widescan-gpu"; \
		$(GO) build -tags cuda -o bin/widescan-gpu ./cmd/widescan-gpu; \
	else \
		echo "build: no CUDA headers (make deps-cuda), so no bin/widescan-gpu: --backend auto generates on the CPU"; \
	fi

# deps installs what the privileged tests need: iproute2 (ip netns, veth) and
# iputils-ping (the testbed tests ping through it).
deps:
	@command -v ip >/dev/null 2>&1 && command -v ping >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 iputils-ping; }

# deps-demo adds tshark, which checks the dry run's pcap.
deps-demo: deps
	@command -v tshark >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tshark; }

# deps-cuda installs Debian's CUDA compiler and headers (nvidia-cuda-toolkit,
# nvidia-cuda-dev: about 5 GB), enabling the non-free component first.
deps-cuda:
	@if command -v nvcc >/dev/null 2>&1 && [ -f /usr/include/cuda.h ]; then exit 0; fi; \
	. /etc/os-release; \
	printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: contrib non-free non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		"$$VERSION_CODENAME" "$$VERSION_CODENAME" > /etc/apt/sources.list.d/widescan-non-free.sources; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit nvidia-cuda-dev

# kernels regenerates the committed PTX (kernels/ptx) with nvcc 11.8.
kernels:
	sh kernels/build.sh

# cuda-check compile-checks the cuda build (the worker and the GPU test
# binaries; no CUDA code runs) and fails when the committed PTX is not what
# the kernel sources produce.
cuda-check:
	$(GO) vet -tags cuda ./cmd/widescan-gpu ./kernels/... ./generator/
	$(GO) build -tags cuda -o bin/widescan-gpu ./cmd/widescan-gpu
	$(GO) test -c -tags cuda -o /dev/null ./cmd/widescan-gpu
	$(GO) test -c -tags cuda -o /dev/null ./generator
	sh kernels/build.sh
	git diff --exit-code -- kernels/ptx

# test: vet, the whole suite under the race detector (the privileged testbed
# tier runs when root; WIDESCAN_REQUIRE_PRIV=1 makes a skip a failure), and one
# iteration of every benchmark.
test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) bench-smoke

test-short:
	$(GO) test -count=1 ./...

bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime=1x -count=1 ./...

# bench-wire: both send paths (raw, packet) on a two-namespace veth testbed
# with an AnyIP /48, 2 M targets uncapped; needs root. It ends with the line
# "bench-wire: raw_pps=A packet_pps=B ratio=C replies_captured=R% kernel_drops=K".
bench-wire: deps
	$(GO) run ./internal/benchwire

# demo: build, bring up the testbed with 5k planted hosts, scan part of it,
# check a dry run's pcap with tshark, tear down, print the summary line.
demo: deps-demo build
	$(GO) run ./internal/demo -widescan $(BIN)

# peers-demo: 8 host nodes (examples/hostnode) in testbed namespaces scan each
# other with beacon cards, verify each other's keys over TCP and reject forged
# cards; it ends with the peers-demo summary line.
peers-demo: deps
	$(GO) build -o bin/hostnode ./examples/hostnode
	$(GO) run ./internal/peersdemo -hostnode bin/hostnode

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin
