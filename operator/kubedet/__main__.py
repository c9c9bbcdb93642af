"""`python -m kubedet`: run the operator (what the Deployment's container runs)."""

from __future__ import annotations

import argparse
import os
import sys

import kopf

from kubedet.api.constants import PEERING_NAME


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
