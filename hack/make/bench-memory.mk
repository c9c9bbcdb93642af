# The retained-memory benchmark: the operator's RSS idle, with 10,000 finished runs kept, and after a
# restart among them (the figure the Deployment's memory limit is set from, docs/benchmarks.md).
# Its own devcluster (state folder and ports, distinct from the tests' and bench-operator's), so it
# runs beside both, and it is torn down at the end.
bench: bench-memory

BENCH_MEMORY_DEVCLUSTER_DIR ?= $(CURDIR)/.devcluster-bench-memory
BENCH_MEMORY_ARGS ?=

.PHONY: bench-memory
bench-memory: venv devcluster-build ## Operator RSS idle, with 10,000 finished runs and after a restart (BENCH_MEMORY_ARGS).
	REAL_NODES=0 DEVCLUSTER_DIR=$(BENCH_MEMORY_DEVCLUSTER_DIR) KUBECONFIG=$(BENCH_MEMORY_DEVCLUSTER_DIR)/kubeconfig \
	DEVCLUSTER_ETCD_PORT=$${DEVCLUSTER_ETCD_PORT:-53790} DEVCLUSTER_ETCD_PEER_PORT=$${DEVCLUSTER_ETCD_PEER_PORT:-53800} \
	DEVCLUSTER_APISERVER_PORT=$${DEVCLUSTER_APISERVER_PORT:-56443} DEVCLUSTER_KCM_PORT=$${DEVCLUSTER_KCM_PORT:-56257} \
	DEVCLUSTER_SCHEDULER_PORT=$${DEVCLUSTER_SCHEDULER_PORT:-56259} DEVCLUSTER_KWOK_PORT=$${DEVCLUSTER_KWOK_PORT:-56250} \
	$(PY) bench/retained_memory.py --down $(BENCH_MEMORY_ARGS)
