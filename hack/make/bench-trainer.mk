# The trainer-overhead benchmark: kubedet's trainer against stock MMDetection tools/train.py.
bench: bench-trainer

.PHONY: bench-trainer
bench-trainer: venv-trainer ## kubedet_trainer vs stock tools/train.py on this CPU, alternated (BENCH_TRAINER_ARGS).
	$(PY) bench/trainer_overhead.py $(BENCH_TRAINER_ARGS)
