##@ Reliability

# The same tests as `make test` runs, scaled up by KUBEDET_SOAK=1 (tests/reliability/faults.py): 50 runs
# and 6 operator kills instead of 20 and 3, the node-loss fault (slow: pod GC waits ~40 s), and datasets
# of 2,000,000 boxes. `RELIABILITY key = {...}` lines carry the measured numbers for docs/reliability.md.
# venv-trainer: the hostile-datasets tests run the trainer's preflight, which reads images with PIL.
.PHONY: soak
soak: venv-trainer devcluster-build ## Reliability soak: 50 runs, 6 operator kills, node loss, 2M-box datasets (~6 min).
	set -o pipefail; KUBEDET_SOAK=1 $(PYTEST) tests/unit/test_preflight_hostile.py \
	  tests/integration/test_reliability.py tests/integration/test_security.py -q -s \
	  | grep -E "^RELIABILITY|passed|failed|error|Error"
