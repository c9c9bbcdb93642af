# `make demo` runs the operator as its Deployment, `make demo-sim` as a local process; demo-down stops
# either, with or without the cluster.

##@ Demo: stop, train for real

.PHONY: demo-down
demo-down: ## Stop the demo's operator: its Deployment scaled to 0, or demo-sim's process (the devcluster keeps running).
	@hack/demo.sh stop

# Stopping the cluster also stops the operator that talks to it (its pid file lives in the
# devcluster's directory, which `cluster-down` removes).
cluster-down: demo-down

.PHONY: train-local
train-local: venv-trainer ## Train RTMDet-tiny for real on a synthetic dataset on this CPU; print the metrics.
	$(PY) hack/demo/train_local.py $(if $(EPOCHS),--epochs $(EPOCHS))
