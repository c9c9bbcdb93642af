"""Pure functions that build the Kubernetes objects kubedet creates. No API calls here: handlers call
these and send the results, so every object can be unit-tested without a cluster."""
