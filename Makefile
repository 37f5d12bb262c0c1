# vlforge: `make demo` builds a release from the demo data; `make test` runs the tests.
# Everything is installed into .venv and .airflow inside this folder (vlforge itself in editable
# mode: the `vlforge` command), and Label Studio into .lsvenv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-12)
# The editable install points at one checkout's include/: keyed by where that really is, so a checkout
# that shares the venv reinstalls it, and a folder that links to this include/ does not.
EDITABLE_STAMP := $(VENV)/.editable-$(shell (realpath include; cat pyproject.toml) | sha256sum | cut -c1-12)
# Label Studio pins its own Django and friends: it lives in a virtualenv of its own.
LSVENV := $(CURDIR)/.lsvenv
LS_STAMP := $(LSVENV)/.installed-$(shell sha256sum requirements-label-studio.txt | cut -c1-12)

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM := 4
export PYTHONPATH := $(CURDIR)/include
export VLFORGE_HOME ?= $(CURDIR)/data
export HF_HUB_OFFLINE := 1
export NO_ALBUMENTATIONS_UPDATE := 1
export GX_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Debian packages: Tesseract (English, Simplified Chinese) for OCR pre-annotation and read-back; Chromium,
# Noto CJK and DejaVu fonts, fontconfig and poppler for synthetic documents, screens and PDF pages.
DEBIAN_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim chromium fonts-noto-cjk fonts-dejavu-core poppler-utils fontconfig
DEBIAN_STAMP := $(VENV)/.debian-$(shell echo $(DEBIAN_PACKAGES) | sha256sum | cut -c1-12)
SUDO := $(shell test "$$(id -u)" = 0 || echo sudo)

CONF ?=
DAG ?= vlforge_release
# `make run` and `make demo` run a DAG to the end with its mapped tasks in parallel on every core
# (scripts/run_dag.sh: `airflow dags test --use-executor`, LocalExecutor); VLFORGE_CORES=1 runs one task at a time.
RUN_DAG := AIRFLOW_BIN=$(BIN)/airflow $(CURDIR)/scripts/run_dag.sh
DEMO_SOURCE := $(VLFORGE_HOME)/demo

.PHONY: setup demo run test test-fast bench calibrate airflow label-studio clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first: the pinned CPU wheel on disk; any other spec pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# Editable: `vlforge` runs this checkout's include/; PYTHONPATH (set here, and by Airflow's tasks) comes first.
$(EDITABLE_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.editable-* && touch $(EDITABLE_STAMP)

$(LS_STAMP): requirements-label-studio.txt
	rm -rf $(LSVENV)
	$(PYTHON) -m venv $(LSVENV)
	$(LSVENV)/bin/pip install -q -r requirements-label-studio.txt || (rm -rf $(LSVENV); exit 1)
	touch $(LS_STAMP)

label-studio: $(LS_STAMP)

$(AIRFLOW_HOME)/airflow.db: $(STAMP)
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/migrate.log; exit 1)

$(DEBIAN_STAMP): $(STAMP)
	dpkg -s $(DEBIAN_PACKAGES) > /dev/null 2>&1 || \
		($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES))
	touch $(DEBIAN_STAMP)

setup: $(STAMP) $(EDITABLE_STAMP) $(DEBIAN_STAMP) $(AIRFLOW_HOME)/airflow.db

demo: setup
	$(BIN)/vlforge prepare-demo $(VLFORGE_HOME)/demo
	$(RUN_DAG) vlforge_release '{"source": "$(DEMO_SOURCE)", "source_format": "label_studio", "dataset": "demo", "recipe": "demo"}' > $(VLFORGE_HOME)/demo/dags_test.log 2>&1 \
		|| (tail -60 $(VLFORGE_HOME)/demo/dags_test.log; exit 1)
	$(BIN)/vlforge latest demo
	@echo "dashboard: run 'make airflow', open http://127.0.0.1:8080/plugin/vlforge and log in as admin"
	@echo "           (its password is in $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated after the first start)"

# Any DAG, run to the end on this machine, every core used: DAG=vlforge_release (default) or DAG=vlforge_preannotate.
run: setup
	@test -n '$(CONF)' || (echo 'usage: make run [DAG=vlforge_preannotate] CONF='"'"'{"source": "...", "source_format": "label_studio", "dataset": "..."}'"'"; exit 2)
	$(RUN_DAG) $(DAG) '$(CONF)'

# Label Studio is needed by the review-loop test only: where it cannot be installed, that test skips with the reason.
test: setup
	$(MAKE) --no-print-directory label-studio || echo "Label Studio could not be installed into $(LSVENV): its review-loop test will be skipped"
	$(BIN)/python -m pytest -q tests

# The inner loop: no Airflow, databases, Tesseract, models or subprocesses (markers in pytest.ini).
test-fast: setup
	$(BIN)/python -m pytest -q -m "not integration and not slow" tests

# Speed goals, measured as ratios side by side in one run (never as timed assertions in tests): every entry
# of bench/run.py, a table in the terminal and bench/results.json. BENCH="augment bertscore" runs some of them.
BENCH ?=
bench: setup
	$(BIN)/python bench/run.py $(BENCH)

# The shipped MiniLM's BERTScore threshold, calibrated on real COCO captions (the recipe's text_encoders entry).
calibrate: setup
	$(BIN)/vlforge calibrate tests/data/coco_captions/debug.ref.json

airflow: setup
	# standalone starts its components as `airflow ...` subprocesses: they must find the venv's.
	PATH=$(BIN):$$PATH AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=8080 $(BIN)/airflow standalone

clean:
	rm -rf $(AIRFLOW_HOME) $(VLFORGE_HOME)
