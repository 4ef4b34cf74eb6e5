# Two commands from a fresh clone (README: "Set up"):
#   make app    set up what is missing, then start the Streamlit app (http://localhost:8501)
#   make test   set up what is missing, then run the quick tests (make test-all: all, as CI)
# Set-up (scripts/setup.sh) is idempotent: .venv, torch (CPU build without an NVIDIA GPU), the
# project with its dev extras, system packages where this user may install them.

VENV := .venv
# MNIST: $MNIST_DIR if set, else the course's shared copy beside this clone, else the tests and
# the app download it once into ~/.cache/bayes-cnn-lab/mnist.
MNIST_DIR ?= $(firstword $(wildcard $(abspath $(CURDIR)/../shared/data/mnist)))
ifneq ($(MNIST_DIR),)
export MNIST_DIR
endif

.PHONY: app test test-all setup

app: setup
	$(VENV)/bin/streamlit run app.py

test: setup
	$(VENV)/bin/pytest -m "not slow"

test-all: setup
	$(VENV)/bin/pytest

setup:
	@bash scripts/setup.sh
	@echo "setup: MNIST from $(if $(MNIST_DIR),$(MNIST_DIR),~/.cache/bayes-cnn-lab/mnist (downloaded once; set MNIST_DIR to use a copy))"
