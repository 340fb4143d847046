# `make demo` and `make test` are the two commands; both need only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean

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
	$(BIN)/ruff check pmpoolctl tests
	$(BIN)/ruff format --check pmpoolctl tests

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# Benchmarks (benchmarks/README.md): e.g. make bench BENCH_ARGS='--sizes 1k,10k' for a quick run.
BENCH_ARGS ?=
bench: $(STAMP)
	@$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
