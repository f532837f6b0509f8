# Two commands for a newcomer: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# How often the background-job worker looks for work when its queue is empty.
WORKER_POLL_SECONDS ?= 0.5

.PHONY: install run test chaos lint format migrate demo clean bench

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

# nginx from Debian's package, the buffering proxy in front of gunicorn (deploy/nginx.conf).
NGINX := /usr/sbin/nginx
$(NGINX):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; \
	else echo "make run and the tests serve through nginx: sudo apt-get install nginx-light" >&2; exit 2; fi

# Serves on http://127.0.0.1:$(PORT) as production does: nginx in front of gunicorn (static files
# through WhiteNoise), with a background-job worker beside them (scripts/serve, docs/scaling.md);
# Ctrl-C or SIGTERM stops all three.
run: $(NGINX) demo
	$(PY) manage.py collectstatic --no-input --verbosity 0
	PORT=$(PORT) WORKER_POLL_SECONDS=$(WORKER_POLL_SECONDS) exec scripts/serve

# The browser tests drive Debian's Chromium through Playwright (never a browser download).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else echo "The browser tests need Chromium: sudo apt-get install chromium" >&2; exit 2; fi

# The whole suite: on PostgreSQL when DATABASE_URL points at one, on SQLite otherwise.
test: install $(CHROMIUM) $(NGINX)
	$(VENV)/bin/pytest

# The reliability suite (docs/performance.md, "Reliability"): the portal served by scripts/serve on a
# private PostgreSQL cluster it creates (initdb in a temporary folder, its own port), through
# outages, a frozen database, slow clients, conflicting writers and killed workers. Under 10 minutes.
chaos: install $(NGINX)
	$(VENV)/bin/pytest chaos -p no:cacheprovider -s

# The plan-scale benchmark (docs/performance.md): PostgreSQL only, so DATABASE_URL must point at one;
# its served-throughput figure serves the portal through nginx as `make run` does.
# BENCH_MEMBERS sets the plan size; BENCH_JSON=path also writes the figures as JSON.
BENCH_MEMBERS ?= 200000
BENCH_JSON ?=
bench: install $(NGINX)
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
