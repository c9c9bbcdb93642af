# Benchmarks (numbers, not tests). `make bench` runs every benchmark. Another benchmark joins it from
# its own .mk file with one line, `bench: bench-trainer` (make merges the prerequisites, whatever the
# order the files are included in); BENCH_EXTRA="..." adds targets from the command line.
# The operator benchmark brings up its own devcluster (its own state folder and ports), so it never
# disturbs the cluster the tests use, and tears it down at the end.

BENCH_DEVCLUSTER_DIR ?= $(CURDIR)/.devcluster-bench
# The benchmarks' own devcluster: no real node, its own state folder and ports.
BENCH_CLUSTER_ENV = REAL_NODES=0 DEVCLUSTER_DIR=$(BENCH_DEVCLUSTER_DIR) KUBECONFIG=$(BENCH_DEVCLUSTER_DIR)/kubeconfig \
	DEVCLUSTER_ETCD_PORT=$${DEVCLUSTER_ETCD_PORT:-33790} DEVCLUSTER_ETCD_PEER_PORT=$${DEVCLUSTER_ETCD_PEER_PORT:-33800} \
	DEVCLUSTER_APISERVER_PORT=$${DEVCLUSTER_APISERVER_PORT:-36443} DEVCLUSTER_KCM_PORT=$${DEVCLUSTER_KCM_PORT:-36257} \
	DEVCLUSTER_SCHEDULER_PORT=$${DEVCLUSTER_SCHEDULER_PORT:-36259} DEVCLUSTER_KWOK_PORT=$${DEVCLUSTER_KWOK_PORT:-36250} \
	DEVCLUSTER_CONTROLLERS_PORT=$${DEVCLUSTER_CONTROLLERS_PORT:-31900}
BENCH_ARGS ?=
BENCH_EXTRA ?=

##@ Benchmarks

.PHONY: bench
bench: bench-operator $(BENCH_EXTRA) ## Run every benchmark (results in bench/results/).

.PHONY: bench-operator
bench-operator: venv devcluster-build ## kubedet at N=100 and 1000 runs vs plain Jobs (BENCH_ARGS="--xl" adds 5000).
	$(BENCH_CLUSTER_ENV) $(PY) bench/operator_bench.py --down $(BENCH_ARGS)

BENCH_FIELD_ARGS ?=
bench: bench-field

.PHONY: bench-field
bench-field: venv devcluster-build ## kubedet vs Kubeflow Trainer TrainJobs vs plain Jobs, without and with Kueue (BENCH_FIELD_ARGS).
	$(BENCH_CLUSTER_ENV) $(PY) bench/field_bench.py --down $(BENCH_FIELD_ARGS)
