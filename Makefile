# kubedet's Makefile. `make help` lists the targets; the README explains the two that matter on a
# fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
KUBECTL := bin/kubectl
# The devcluster's state folder (DEVCLUSTER_DIR, as for hack/devcluster/devcluster.py) holds its kubeconfig.
export KUBECONFIG ?= $(or $(DEVCLUSTER_DIR),$(CURDIR)/.devcluster)/kubeconfig
export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD := 1
export PYTHONPATH := $(CURDIR)/operator:$(CURDIR)/trainer_image:$(CURDIR)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Setup

.PHONY: venv
venv: ## Create .venv with the operator and the dev tools (pinned by constraints.txt).
	@hack/setup-python.sh base

.PHONY: venv-trainer
venv-trainer: ## Add torch, mmcv (compiled once, ~11 min), mmdet and mmengine to .venv.
	@hack/setup-python.sh trainer

.PHONY: devcluster-build
devcluster-build: ## Build kube-apiserver, controller-manager, scheduler, kubectl, etcd and kwok into bin/.
	@hack/devcluster/build.sh

.PHONY: devcluster-gomod
devcluster-gomod: ## Regenerate hack/devcluster/kube/go.mod from the pinned k8s.io/kubernetes release.
	source hack/devcluster/versions.env && python3 hack/devcluster/gen-kube-gomod.py $$KUBE_VERSION
	cd hack/devcluster/kube && go mod tidy

##@ Local cluster

.PHONY: cluster-up
cluster-up: devcluster-build ## Start the devcluster (idempotent; KUEUE=1 adds Kueue); prints the KUBECONFIG line.
	@python3 hack/devcluster/devcluster.py up

.PHONY: cluster-down
cluster-down: ## Stop the devcluster and remove its state.
	@python3 hack/devcluster/devcluster.py down

.PHONY: cluster-status
cluster-status: ## Show which devcluster components run.
	@python3 hack/devcluster/devcluster.py status

##@ Development

.PHONY: manifests
manifests: venv ## Generate CRDs, policies, roles and API docs from the code.
	$(PY) -m kubedet.manifests

.PHONY: lint
lint: venv ## ruff, mypy and the import-layer check.
	$(VENV)/bin/ruff check operator trainer_image tests hack bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: test
test: lint test-unit test-integration test-trainer test-realnode ## Everything CI runs.

# test-unit needs only the base environment: the unit tests that import the trainer stack are marked
# `trainer` (TRAINER_STACK_TESTS in tests/conftest.py) and run in test-trainer, and
# --without-trainer-stack hides that stack where it is installed, so test-unit is the same everywhere.
.PHONY: test-unit
test-unit: venv devcluster-build ## Unit tests: no cluster, no trainer stack, seconds (kustomize builds use bin/kubectl).
	$(PYTEST) tests/unit -m "not integration and not trainer" --without-trainer-stack -q

# The CLI tests draw the trainer's plots (kubedet_trainer.plots: matplotlib, PIL), hence venv-trainer.
.PHONY: test-integration
test-integration: venv-trainer devcluster-build ## Integration tests against the devcluster (brought up if needed).
	$(PYTEST) tests -m integration -q

# The real node runs kubedet's images: `images` builds them (cached), and bringing the devcluster up
# imports the new archives into the node's containerd.
.PHONY: test-realnode
test-realnode: venv images devcluster-build ## Pods on the devcluster's real node: restricted pods, tokens, volumes, OOM, evictions, the images.
	$(PYTEST) tests/realnode -m realnode -q

.PHONY: test-trainer
test-trainer: venv-trainer ## Real MMDetection training on the CPU, and the unit tests that need the trainer stack.
	$(PYTEST) tests -m trainer -q

##@ Demo

.PHONY: demo
demo: venv venv-trainer devcluster-build images ## kubedet on the devcluster's real node: deploy, train RTMDet-tiny for real, infer, fail, publish.
	@hack/demo.sh

.PHONY: dashboard-screenshots
dashboard-screenshots: venv ## After make demo: photograph kubectl kubedet dashboard into docs/images (needs chromium).
	$(VENV)/bin/python hack/demo/dashboard_screenshots.py

.PHONY: demo-sim
demo-sim: venv devcluster-build ## The same walk-through on simulated (kwok) GPU nodes, in about a minute; nothing trains.
	@hack/demo-sim.sh

# Install, deploy, kind and image targets live beside the rest of the tooling.
-include hack/make/*.mk
