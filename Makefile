# carbonflux_nb: the two commands (see README). Both are idempotent: the virtual environment is created
# once and the package re-installed only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest workers: one per core plus one (a notebook waiting on a JVM, a subprocess or a file leaves its core to the
# others; measured on 2 cores, see README), at most 5
NPROC  := $(shell n=$$(nproc 2>/dev/null || echo 2); n=$$((n + 1)); [ $$n -gt 5 ] && n=5; echo $$n)

.PHONY: install demo book book-check test test-portable sync check-sync lint lint-fix bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]"
	@touch $(STAMP)

install: $(STAMP)

## make demo: install, then run every chapter's run notebook at its small size and write out/demo/index.html
demo: $(STAMP)
	$(BIN)/carbonflux demo

## make book: the offline HTML book in _book/ (chapters executed at test size, cached in .book_cache/; the demo's run
## notebooks when out/demo exists: run `make demo` first). BOOK_ARGS: e.g. --retry-failed, --jobs 1, --demo-dir DIR
book: $(STAMP)
	$(BIN)/python tools/build_book.py $(BOOK_ARGS)

## make book-check: open the built book in headless Chromium (apt-get install -y chromium), screenshot three pages into
## _book/_check/, fail on raw maths, a missing image or a request off the machine
book-check: $(STAMP)
	$(BIN)/python tools/check_book.py

## make test: install, check notebooks and package agree, lint, then every notebook as a test plus pytest
test: $(STAMP) check-sync lint
	$(BIN)/python -m pytest -n $(NPROC) --dist loadgroup --durations=30 tests

## make test-portable: the same tests on other numerical kernels, as another processor would run them: numba compiled
## for a generic x86-64 (no AVX/FMA), OpenBLAS's Prescott kernels, numpy's baseline SIMD loops (its exp, log, sin
## differ in the last bits), torch's default (non-vectorised) ATen kernels and MKL limited to SSE4.2. A test that
## passes here and under `make test` does not depend on how this machine rounds. Run it when a numerical kernel changes.
## (numpy's dispatched features are read from the installed numpy, so the list follows its version)
PORTABLE_ENV = NUMBA_CPU_NAME=generic OPENBLAS_CORETYPE=Prescott \
	NPY_DISABLE_CPU_FEATURES="$$($(BIN)/python -c 'import numpy._core._multiarray_umath as m; print(*m.__cpu_dispatch__)')" \
	ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2
test-portable: $(STAMP) check-sync lint
	$(PORTABLE_ENV) $(BIN)/python -m pytest -n $(NPROC) --dist loadgroup --durations=10 tests

## make lab: install, register the project's kernel (name "carbonflux_nb"; again each time, so it follows the venv), then
## JupyterLab on this machine only (127.0.0.1, no browser): open the http://127.0.0.1:<port>/lab?token=... address it prints
.PHONY: lab
lab: $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name carbonflux_nb --display-name "carbonflux_nb"
	$(BIN)/python -m jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$(CURDIR)" \
		$(if $(filter 0,$(shell id -u)),--allow-root)

## export notebooks to the package and clean them (run before committing)
sync: $(STAMP)
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

## fail if exporting or cleaning would change tracked files (CI: the committed package matches its notebooks)
check-sync: $(STAMP)
	@before=$$(git status --porcelain -- nbs carbonflux_nb 2>/dev/null); \
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean; \
	after=$$(git status --porcelain -- nbs carbonflux_nb 2>/dev/null); \
	if [ "$$before" != "$$after" ]; then echo "nbdev-export/nbdev-clean changed files: commit the exported package and cleaned notebooks"; git status --short -- nbs carbonflux_nb; exit 1; fi

## ruff (pyflakes + isort) on the package: the notebooks' exported code (fix in the notebooks, then make sync);
## no undefined name in any notebook (e.g. a test cell that relied on an import the export no longer makes); pyflakes on
## the tests, benchmarks and tools
lint: $(STAMP)
	$(BIN)/ruff check carbonflux_nb
	$(BIN)/ruff check --select F821 nbs
	$(BIN)/ruff check --select F tests benchmarks tools

## ruff's fixes (sorted imports, unused imports removed) carried back into the notebooks, then re-exported
lint-fix: $(STAMP)
	$(BIN)/python tools/ruff_to_notebooks.py

bench: $(STAMP)
	$(BIN)/python benchmarks/ec_bench.py
	$(BIN)/python benchmarks/eulerian_bench.py --days 30
	$(BIN)/python benchmarks/lagrangian_bench.py
	$(BIN)/python benchmarks/upscale_bench.py
	$(BIN)/python benchmarks/fluxformer_bench.py
	$(BIN)/python benchmarks/inversion_bench.py
	$(BIN)/python benchmarks/enkf_bench.py

clean:
	rm -rf out benchmarks/_work .pytest_cache
