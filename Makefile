# Two commands for a newcomer: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# How often the background-job worker looks for work when its queue is empty.
WORKER_POLL_SECONDS ?= 0.5

.PHONY: install run test lint format migrate demo clean bench

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --no-input

demo: migrate
	$(PY) manage.py load_demo_data

# Serves with gunicorn (static files through WhiteNoise) on http://127.0.0.1:$(PORT), with a
# background-job worker beside it (docs/scaling.md); stopping the server stops the worker.
run: demo
	$(PY) manage.py collectstatic --no-input --verbosity 0
	$(PY) manage.py db_worker --no-reload --interval $(WORKER_POLL_SECONDS) & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	GUNICORN_BIND=127.0.0.1:$(PORT) $(VENV)/bin/gunicorn hedis_portal.wsgi

# The browser tests drive Debian's Chromium through Playwright (never a browser download).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else echo "The browser tests need Chromium: sudo apt-get install chromium" >&2; exit 2; fi

# The whole suite: on PostgreSQL when DATABASE_URL points at one, on SQLite otherwise.
test: install $(CHROMIUM)
	$(VENV)/bin/pytest

# The plan-scale benchmark (docs/performance.md): PostgreSQL only, so DATABASE_URL must point at one.
# BENCH_MEMBERS sets the plan size; BENCH_JSON=path also writes the figures as JSON.
BENCH_MEMBERS ?= 200000
BENCH_JSON ?=
bench: install
	@case "$$DATABASE_URL" in postgres://*|postgresql://*|pgsql://*|postgis://*) ;; \
	  *) echo "make bench needs PostgreSQL: DATABASE_URL=postgres://USER@HOST:5432/NAME make bench" >&2; exit 2;; \
	esac
	$(PY) manage.py migrate --no-input
	$(PY) manage.py bench --members $(BENCH_MEMBERS) --explain $(if $(BENCH_JSON),--json $(BENCH_JSON))

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) staticfiles db.sqlite3
