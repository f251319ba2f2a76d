# photostream: `make demo` runs the whole pipeline, `make test` passes the suite.
# Both install what they need on first use and are safe to run again.

PY        ?= python3.11
VENV      := .venv
BIN       := $(VENV)/bin
PS        := $(BIN)/photostream
STAMP     := $(VENV)/.installed
# Debian packages the services and the media pipeline need.
APT_PKGS  := redis-server ffmpeg libimage-exiftool-perl kcat wrk

.PHONY: help setup sysdeps venv bench-tools services services-down migrate test unit lint demo demo-stop clean

help:
	@echo "make demo   - install, start services, migrate, run worker + API + a synthetic workload"
	@echo "make test   - install, start services, run unit and integration tests"
	@echo "make lint   - ruff and import-linter"
	@echo "make bench-tools - the open-loop load generator the read benchmark drives (vegeta)"
	@echo "make demo-stop / services-down / clean"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

sysdeps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v exiftool >/dev/null || missing="$$missing libimage-exiftool-perl"; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

setup: sysdeps venv

# vegeta, built from the Go module proxy into .tools/bin (benchmarks only).
VEGETA_VERSION := v12.13.0
bench-tools:
	@test -x .tools/bin/vegeta || GOBIN=$(CURDIR)/.tools/bin go install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION)

services: setup
	$(PS) services up

services-down: venv
	$(PS) services down

migrate: services
	$(PS) db migrate

test: migrate
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

unit: venv
	$(BIN)/python -m pytest tests/unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

demo: migrate
	$(PS) demo

demo-stop: venv
	$(PS) demo --stop

clean: services-down
	rm -rf $(VENV)
