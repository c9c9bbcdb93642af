"""Benchmarks of kubedet (not tests: they measure, and print numbers with their baseline)."""
