# Install kubedet into the cluster KUBECONFIG names (the devcluster by default), kubebuilder style.
#   make install / uninstall     CRDs, roles and admission policies only (run the operator yourself)
#   make deploy / undeploy       everything, from OVERLAY (default manifests/default)
#   make build-installer         dist/install.yaml: one file for `kubectl apply --server-side -f`

OVERLAY ?= manifests/default
KUBEDET_CRDS := datasets.kubedet.io trainedmodels.kubedet.io trainingruns.kubedet.io
# The installer owns what it installs: it takes over fields an earlier apply (a test, a demo) set.
APPLY := $(KUBECTL) apply --server-side --force-conflicts --field-manager=kubedet-install

##@ Install

.PHONY: install
install: ## Install the CRDs, the roles and the admission policies into the KUBECONFIG cluster.
	$(APPLY) -k manifests/crd
	$(KUBECTL) wait --for=condition=Established --timeout=60s $(addprefix crd/,$(KUBEDET_CRDS))
	$(APPLY) -k manifests/rbac
	$(APPLY) -k manifests/policies

.PHONY: uninstall
uninstall: delete-kubedet-objects ## Remove what `make install` installed (deletes every run, model and dataset).
	$(KUBECTL) delete --ignore-not-found -k manifests/policies
	$(KUBECTL) delete --ignore-not-found -k manifests/rbac
	$(KUBECTL) delete --ignore-not-found -k manifests/crd

.PHONY: deploy
deploy: ## Install everything, operator included, from OVERLAY (manifests/overlays/kind, ...).
	$(APPLY) -k $(OVERLAY)
	$(KUBECTL) wait --for=condition=Established --timeout=60s $(addprefix crd/,$(KUBEDET_CRDS))

.PHONY: undeploy
undeploy: delete-kubedet-objects ## Remove everything `make deploy` installed.
	$(KUBECTL) delete --ignore-not-found -k $(OVERLAY)

# Runs carry kubedet's finalizer (their artifacts are cleaned up first); deleting them while the
# operator still runs lets it release them, where deleting the CRDs first would hang on them.
.PHONY: delete-kubedet-objects
delete-kubedet-objects:
	@if $(KUBECTL) get crd trainingruns.kubedet.io >/dev/null 2>&1; then \
	  $(KUBECTL) delete trainingruns,trainedmodels,datasets --all --all-namespaces --timeout=120s \
	  || { echo "runs still hold kubedet.io/finalizer: is the operator running? (docs/operations.md)" >&2; exit 1; }; \
	fi

.PHONY: build-installer
build-installer: ## Write dist/install.yaml (manifests/default in one file).
	@mkdir -p dist
	$(KUBECTL) kustomize manifests/default > dist/install.yaml
	@echo "dist/install.yaml: kubectl apply --server-side -f dist/install.yaml"
