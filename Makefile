# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install
# pinned dependencies on first use; later runs reuse it (the stamp file tracks requirements).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0
# Where pip's default index serves a CUDA build of torch, name a CPU wheel index, e.g.
# `make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu` (this project's CI machine serves
# the CPU wheel from its default index, so it is empty by default).
TORCH_INDEX ?=
# Fast suite in parallel-free mode; slow tests live behind `make test-slow`.
PYTEST := $(PY) -m pytest

.PHONY: setup demo test test-slow test-all bench bench-quick jemalloc clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU wheel of torch, pinned; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# Optional: jemalloc speeds training 15-25% (needs root; harmless if it fails).
jemalloc:
	-@test -e /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 || (apt-get install -y -q libjemalloc2 >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libjemalloc2 >/dev/null 2>&1)) || true

demo: $(STAMP) jemalloc
	$(VENV)/bin/cyclescan demo --out demo_out

test: $(STAMP)
	$(PYTEST) -q -m "not slow"

test-slow: $(STAMP)
	$(PYTEST) -q -m "slow"

test-all: $(STAMP)
	$(PYTEST) -q

bench-quick: $(STAMP)
	$(VENV)/bin/cyclescan benchmark --quick --out bench-quick.json

bench: $(STAMP) jemalloc
	$(VENV)/bin/cyclescan benchmark --out bench.json

clean:
	rm -rf $(VENV) demo_out .pytest_cache
