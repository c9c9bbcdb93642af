"""`python -m kubedet.cli`: the same as the installed `kubectl-kubedet`."""

from kubedet.cli.main import main

raise SystemExit(main())
