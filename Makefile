# The two commands of the README: `make demo` and `make test`. Both create the environment first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tailtag demo

# The report and service tests drive a real headless browser: Debian's chromium + chromedriver.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -q && apt-get install -y -q --no-install-recommends chromium chromium-driver; }

test: $(STAMP) browser
	TAILTAG_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_split.py
	$(BIN)/python benchmarks/bench_inspect.py
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_train.py --threads 1
	$(BIN)/python benchmarks/bench_finetune.py --threads 1
	$(BIN)/python benchmarks/bench_evaluate.py
	$(BIN)/python benchmarks/bench_predict.py --threads 1
	$(BIN)/python benchmarks/bench_export.py --threads 1
	$(BIN)/python benchmarks/bench_serve.py --seconds 20 --threads 1

clean:
	rm -rf $(VENV) tailtag-demo .pytest_cache
