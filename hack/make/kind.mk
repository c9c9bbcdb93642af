# kind, for machines with Docker: a real cluster with real containers (no GPUs). This path cannot run
# where the project is developed (no Docker there); it stays thin on purpose: kind, load, deploy, test.

KIND ?= kind
KIND_CLUSTER ?= kubedet
KIND_KUBECONFIG ?= $(CURDIR)/.cache/kind/kubeconfig
# kubedet's admission policies need Kubernetes 1.36 or newer (docs/operations.md); set a node image
# (kindest/node:v1.36.x or later) when your kind's default is older.
KIND_NODE_IMAGE ?=

##@ kind (needs Docker)

.PHONY: kind-up
kind-up: docker-check ## Create the kind cluster KIND_CLUSTER (idempotent); kubeconfig in .cache/kind/.
	@command -v $(KIND) >/dev/null 2>&1 || { echo "kind is missing: https://kind.sigs.k8s.io/docs/user/quick-start/" >&2; exit 2; }
	@mkdir -p $(dir $(KIND_KUBECONFIG))
	@$(KIND) get clusters 2>/dev/null | grep -qx $(KIND_CLUSTER) \
	  || $(KIND) create cluster --name $(KIND_CLUSTER) --kubeconfig $(KIND_KUBECONFIG) --wait 120s \
	     $(if $(KIND_NODE_IMAGE),--image $(KIND_NODE_IMAGE))
	$(KIND) export kubeconfig --name $(KIND_CLUSTER) --kubeconfig $(KIND_KUBECONFIG)
	@echo "export KUBECONFIG=$(KIND_KUBECONFIG)"

.PHONY: kind-load
kind-load: docker-build ## Build both images and load them into the kind nodes.
	$(KIND) load docker-image $(OPERATOR_IMAGE) $(TRAINER_IMAGE) --name $(KIND_CLUSTER)

.PHONY: kind-deploy
kind-deploy: ## Deploy kubedet (overlay kind) and wait for the operator.
	$(MAKE) deploy OVERLAY=manifests/overlays/kind KUBECONFIG=$(KIND_KUBECONFIG)
	$(KUBECTL) --kubeconfig $(KIND_KUBECONFIG) rollout status deployment/kubedet-operator -n kubedet-system --timeout=180s

.PHONY: e2e-kind
e2e-kind: kind-up kind-load kind-deploy ## The end-to-end tests (tests/e2e) against kind.
	$(PYTEST) tests/e2e -m integration --cluster=kind --kind-kubeconfig=$(KIND_KUBECONFIG) -q

.PHONY: kind-down
kind-down: ## Delete the kind cluster.
	$(KIND) delete cluster --name $(KIND_CLUSTER)
	rm -f $(KIND_KUBECONFIG)
