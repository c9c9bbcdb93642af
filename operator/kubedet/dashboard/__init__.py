"""`kubectl kubedet dashboard`: runs, models and datasets as web pages, served on 127.0.0.1 with the
user's own kubeconfig. See kubedet.dashboard.app and docs/dashboard.md."""
