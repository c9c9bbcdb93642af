"""`python -m kubedet`: run the operator (what the Deployment's container runs)."""

from __future__ import annotations

import argparse
import os
import sys

import kopf


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
    # Structured logs: one JSON object per line, with the object's namespace and name under "object".
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.JSON, log_refkey="object")
    import kubedet.handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
        standalone=not args.peering,
        peering_name="kubedet" if args.peering else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
