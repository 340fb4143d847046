# `make demo` and `make test` are the two commands; both need only python3 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime
STAMP := $(VENV)/.installed
PMPOOLCTL = $(BIN)/pmpoolctl

.PHONY: demo demo-commands test test-oldest lint typecheck unit docs man completions picture pyz pyz-demo bench bench-pyz \
	fuzz fuzz-atheris clean

# make demo needs the package and its runtime dependencies only (pure Python: no compiler);
# make test adds the test extra (pylibfdt in it is compiled).
$(RUNTIME_STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(RUNTIME_STAMP)
	@$(MAKE) --no-print-directory demo-commands

# The demo's commands, run by $(PMPOOLCTL): make pyz-demo runs them with the single-file build.
demo-commands:
	@echo '$$ pmpoolctl dump examples/pool.dtb'
	@$(PMPOOLCTL) dump examples/pool.dtb
	@echo
	@echo '$$ pmpoolctl add-range examples/pool.dtb 0x180000000 64M --dry-run'
	@$(PMPOOLCTL) add-range examples/pool.dtb 0x180000000 64M --dry-run
	@echo
	@echo '$$ pmpoolctl validate examples/pool.dtb --memmap examples/memmap/iomem.txt'
	@$(PMPOOLCTL) validate examples/pool.dtb --memmap examples/memmap/iomem.txt
	@echo
	@echo '$$ pmpoolctl validate examples/bad-pool.dtb --memmap examples/memmap/iomem.txt   # refused: exit 1'
	@$(PMPOOLCTL) validate examples/bad-pool.dtb --memmap examples/memmap/iomem.txt; test $$? -eq 1

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check pmpoolctl tests benchmarks docs tools examples/scripts
	$(BIN)/ruff format --check pmpoolctl tests benchmarks docs tools examples/scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# The CLI tests with the oldest click and rich the dependency ranges allow: Debian 12's
# python3-click and python3-rich (and markdown-it-py, mdurl; pygments is left to pytest's own
# lower bound). Not the whole suite: the rest needs the test extra, which is no runtime dependency.
OLDEST_VENV := .venv-oldest
OLDEST_STAMP := $(OLDEST_VENV)/.installed
OLDEST_DEPS := click==8.1.3 rich==13.3.1 markdown-it-py==2.1.0 mdurl==0.1.2 fdt==0.3.3
$(OLDEST_STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(OLDEST_VENV)/bin/python -m pip install --quiet $(OLDEST_DEPS) pytest==9.2.0 hypothesis==6.170.17
	$(OLDEST_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(OLDEST_STAMP)

test-oldest: $(OLDEST_STAMP)
	$(OLDEST_VENV)/bin/python -m pip check
	$(OLDEST_VENV)/bin/python -m pytest -p no:cacheprovider tests/cli/test_cli.py tests/system/test_verdict.py

# Files generated from the command tree, committed (tests fail when one is stale): docs/cli.md,
# the man pages in man/ and the shell completions in completions/.
docs: $(STAMP) man completions
	$(BIN)/python tools/gen_cli_md.py

man: $(STAMP)
	$(BIN)/python tools/gen_man.py

completions: $(STAMP)
	$(BIN)/python tools/gen_completions.py

# docs/map.png, the README's picture: pmpoolctl's own SVG screenshotted by headless Chromium.
picture: $(STAMP)
	$(BIN)/python tools/render_picture.py

# dist/pmpoolctl.pyz: one file that python3 >= 3.10 runs with nothing installed (tools/build_pyz.py).
# The wheels it bundles are fetched by their pinned sha256; it holds bytecode for each interpreter
# in PYZ_BYTECODE, which start it fastest (a release: PYZ_BYTECODE='python3.10 python3.11 ...').
PYZ := dist/pmpoolctl.pyz
PYZ_WHEELS := build/pyz-wheels
PYZ_BYTECODE ?= $(PYTHON)
pyz:
	$(PYTHON) -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
		--require-hashes -r tools/pyz-requirements.txt -d $(PYZ_WHEELS)
	$(PYTHON) tools/build_pyz.py --wheels $(PYZ_WHEELS) $(addprefix --bytecode ,$(PYZ_BYTECODE)) -o $(PYZ)

# The demo by the pyz under a python that sees no site-packages at all (-I -S): nothing installed.
pyz-demo: pyz
	@$(MAKE) --no-print-directory demo-commands PMPOOLCTL='$(PYTHON) -I -S $(PYZ)'
	$(PYTHON) -I -S $(PYZ) validate examples/pool.dtb --memmap examples/memmap/iomem.txt --strict --json >/dev/null

# Benchmarks (benchmarks/README.md): e.g. make bench BENCH_ARGS='--sizes 1k,10k' for a quick run.
# They time pmpoolctl as `pip install .` installs it, in a venv of its own: the editable install of
# .venv adds an import hook that costs every process about 20 ms at start-up, which users never pay.
BENCH_ARGS ?=
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
$(BENCH_STAMP): setup.cfg pyproject.toml $(wildcard pmpoolctl/*.py pmpoolctl/*/*.py)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet .
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@$(BENCH_VENV)/bin/python benchmarks/bench.py $(BENCH_ARGS)

# Start-up of the pyz against the installed package (benchmarks/README.md, "Single-file build").
# The interpreter by its real path: a wrapper such as pyenv's shim adds its own start-up.
REAL_PYTHON = $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
bench-pyz: $(BENCH_STAMP) pyz
	@$(REAL_PYTHON) benchmarks/startup.py 'installed (pip install .)=$(BENCH_VENV)/bin/pmpoolctl' \
		'pyz=$(REAL_PYTHON) $(PYZ)' 'pyz, python -I=$(REAL_PYTHON) -I $(PYZ)'

# A long seeded fuzz campaign (tools/fuzz_campaign.py) on all cores: counts per outcome and per mutator;
# each failing case is printed with its seed and case, its blob saved in fuzz-failures/. Exit 1 on a failure.
FUZZ_CASES ?= 20000
FUZZ_SEED ?= 1
fuzz: $(STAMP)
	$(BIN)/python -m tools.fuzz_campaign --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)

# Coverage-guided fuzzing of the reader and dump with atheris (the optional fuzz extra; make test does not
# need it), time-boxed; stops at the first broken invariant and saves the input as fuzz-failures/atheris-crash-*.
ATHERIS_SECONDS ?= 300
fuzz-atheris: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,fuzz]'
	$(BIN)/python -m tools.fuzz_atheris -max_total_time=$(ATHERIS_SECONDS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(OLDEST_VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
