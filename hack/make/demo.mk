# The demo's operator runs as a local process; these targets stop it, with or without the cluster.

##@ Demo: stop, train for real

.PHONY: demo-down
demo-down: ## Stop the demo's operator (the devcluster keeps running).
	@hack/demo.sh stop

# Stopping the cluster also stops the operator that talks to it (its pid file lives in the
# devcluster's directory, which `cluster-down` removes).
cluster-down: demo-down

.PHONY: train-local
train-local: venv-trainer ## Train RTMDet-tiny for real on a synthetic dataset on this CPU; print the metrics.
	$(PY) hack/demo/train_local.py $(if $(EPOCHS),--epochs $(EPOCHS))
