# `make demo` and `make test` are the two commands; both need only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit docs bench fuzz fuzz-atheris clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	@echo '$$ pmpoolctl dump examples/pool.dtb'
	@$(BIN)/pmpoolctl dump examples/pool.dtb
	@echo
	@echo '$$ pmpoolctl add-range examples/pool.dtb 0x180000000 64M --dry-run'
	@$(BIN)/pmpoolctl add-range examples/pool.dtb 0x180000000 64M --dry-run
	@echo
	@echo '$$ pmpoolctl validate examples/pool.dtb --memmap examples/memmap/iomem.txt'
	@$(BIN)/pmpoolctl validate examples/pool.dtb --memmap examples/memmap/iomem.txt
	@echo
	@echo '$$ pmpoolctl validate examples/bad-pool.dtb --memmap examples/memmap/iomem.txt   # refused: exit 1'
	@$(BIN)/pmpoolctl validate examples/bad-pool.dtb --memmap examples/memmap/iomem.txt; test $$? -eq 1

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check pmpoolctl tests benchmarks docs
	$(BIN)/ruff format --check pmpoolctl tests benchmarks docs

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# docs/cli.md from the commands' --help (tests/test_docs.py fails when it is stale).
docs: $(STAMP)
	$(BIN)/python docs/gen_cli_md.py

# Benchmarks (benchmarks/README.md): e.g. make bench BENCH_ARGS='--sizes 1k,10k' for a quick run.
# They time pmpoolctl as `pip install .` installs it, in a venv of its own: the editable install of
# .venv adds an import hook that costs every process about 20 ms at start-up, which users never pay.
BENCH_ARGS ?=
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
$(BENCH_STAMP): pyproject.toml $(wildcard pmpoolctl/*.py)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet .
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@$(BENCH_VENV)/bin/python benchmarks/bench.py $(BENCH_ARGS)

# A long seeded fuzz campaign (tests/fuzz_campaign.py) on all cores: counts per outcome and per mutator;
# each failing case is printed with its seed and case, its blob saved in fuzz-failures/. Exit 1 on a failure.
FUZZ_CASES ?= 20000
FUZZ_SEED ?= 1
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz_campaign --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)

# Coverage-guided fuzzing of the reader and dump with atheris (the optional fuzz extra; make test does not
# need it), time-boxed; stops at the first broken invariant and saves the input as fuzz-failures/atheris-crash-*.
ATHERIS_SECONDS ?= 300
fuzz-atheris: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,fuzz]'
	$(BIN)/python -m tests.fuzz_atheris -max_total_time=$(ATHERIS_SECONDS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
