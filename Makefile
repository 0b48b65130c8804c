# Parsimony: the two set-up commands are `make demo` and `make test`.
# Both install missing Debian packages (as root), configure and build first.

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= 2
PYTHON := /usr/bin/python3

# ccache keys use paths relative to the checkout, so clones at other paths
# (CI's fresh clone) reuse the cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all deps ort configure build test demo docs clean

all: build

deps:
	@bash scripts/install-deps.sh

# ONNX Runtime (npm onnxruntime-node, CPU) as the numerics/speed reference.
ort:
	@bash scripts/setup-ort.sh

$(BUILD_DIR)/build.ninja: CMakeLists.txt | deps
	cmake -G Ninja -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	ninja -C $(BUILD_DIR) -j$(JOBS)

# Every suite (lit, GoogleTest, ...) with one summary line: N passed, M failed.
test: build
	@bash scripts/setup-ort.sh
	$(PYTHON) scripts/run-tests.py --build-dir $(BUILD_DIR)

demo: build
	@bash examples/demo.sh $(BUILD_DIR)

# Refresh the generated reference docs committed under docs/.
docs: build
	ninja -C $(BUILD_DIR) update-docs

clean:
	rm -rf $(BUILD_DIR)
