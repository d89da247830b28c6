# The two commands a new user needs; each sets up what it needs itself (only Python 3.11 required).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-later lint format bench clean

demo: $(STAMP)
	$(BIN)/python -m bot demo

# The suite waits on sockets and child processes about as much as it computes: two workers a
# core keep the cores busy (measured on 2 cores: 3 workers 62-64 s, 4 workers 53-57 s).
WORKERS = $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')

# TODAY=YYYY-MM-DD runs the whole stack on that date (see README, Development).
# mypy runs beside pytest (the suite leaves a core idle while it waits on its servers); its
# verdict is printed after the suite's, and either failing fails the target.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(BIN)/mypy > $(VENV)/mypy.out 2>&1 & types=$$!; \
	$(BIN)/python -m pytest -n $(WORKERS) --durations=10 $(if $(TODAY),--today $(TODAY)); \
	tests=$$?; wait $$types; typed=$$?; echo "mypy:"; cat $(VENV)/mypy.out; \
	test $$tests -eq 0 -a $$typed -eq 0

# The suite on a later date that crosses a year boundary in ISO week 53 (tests/dates.py says
# which: 2027-01-01 as of late 2026). CI runs it after `make test`.
test-later: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --today $$($(BIN)/python -m tests.dates)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every bench has a 50,000-member run (issue 9): report_parse, digest, cached_answers and
# serve_memory run at 50k by default; scale_200k at 200k; http_server, home_tab and replicas
# are asked for 50k. slack_app's full run (150 ack rounds, each making two new reports) stays at
# its small default org; a shorter 50k run of its acks follows it. See BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python bench/report_parse.py
	$(BIN)/python bench/digest.py
	$(BIN)/python bench/slack_app.py
	$(BIN)/python bench/slack_app.py --only ack --users 50000 --rounds 10 --warmup 2
	$(BIN)/python bench/http_server.py --users 50000
	$(BIN)/python bench/replicas.py --users 50000
	$(BIN)/python bench/sqlite_writers.py
	$(BIN)/python bench/home_tab.py --users 50000
	$(BIN)/python bench/cached_answers.py
	$(BIN)/python bench/serve_memory.py
	$(BIN)/python bench/scale_200k.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/polling.py

# Reinstall whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
