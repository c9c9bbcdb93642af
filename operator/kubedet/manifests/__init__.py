"""Everything `make manifests` generates from the code: CRDs, admission policies, roles, API docs.

    python -m kubedet.manifests            # write what changed
    python -m kubedet.manifests --check    # exit 1 when a committed file is stale

Generators only: the running operator never imports this package (the import contract checks it).
It reads kubedet.api and nothing above it.
"""
