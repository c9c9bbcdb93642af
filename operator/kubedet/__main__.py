"""`python -m kubedet`: run the operator (what the Deployment's container runs)."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import sys

import kopf

from kubedet.api.constants import PEERING_NAME

# glibc's mallopt parameter for the most malloc arenas a process may have.
M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (before the handler threads start). glibc gives threads their own
    arenas, up to 8 per core, and an arena keeps the memory freed in it: the operator's ~80 threads
    each decode API responses, and the freed pages stayed resident. Explicitly set MALLOC_ARENA_MAX
    wins; other C libraries (musl) have no arenas and this does nothing."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubedet-operator", description="The kubedet operator.")
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: the whole cluster",
    )
    parser.add_argument(
        "--liveness",
        default=os.environ.get("KUBEDET_LIVENESS", "http://0.0.0.0:8080/healthz"),
        help="health endpoint for probes",
    )
    parser.add_argument(
        "--peering",
        action="store_true",
        help="coordinate with other replicas through kopf peering (needs its CRDs)",
    )
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    if args.peering and args.namespace:
        # Namespaced operators peer through namespaced KopfPeering objects, which kubedet neither ships
        # nor is granted; refusing is better than a replica paused forever on a missing object.
        parser.error("--peering works cluster-wide only (ClusterKopfPeering); drop --namespace")
    limit_malloc_arenas()
    # Structured logs: one JSON object per line, with the object's namespace and name under "object".
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.JSON, log_refkey="object")
    import kubedet.handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
        # Without --peering a replica never looks for peers (one replica is what the Deployment runs);
        # with it, peering is mandatory: a replica stays paused until it has seen the peering object,
        # so a second replica started by mistake never acts before it knows about the first.
        standalone=not args.peering,
        peering_name=PEERING_NAME if args.peering else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
