# Two commands for a newcomer: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: install run test lint format migrate demo clean

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

# Serves with gunicorn (static files through WhiteNoise) on http://127.0.0.1:$(PORT)
run: demo
	$(PY) manage.py collectstatic --no-input --verbosity 0
	GUNICORN_BIND=127.0.0.1:$(PORT) $(VENV)/bin/gunicorn hedis_portal.wsgi

# The whole suite: on PostgreSQL when DATABASE_URL points at one, on SQLite otherwise.
test: install
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) staticfiles db.sqlite3
