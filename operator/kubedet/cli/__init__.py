"""`kubectl kubedet`: a kubectl plugin for everyday work with training runs and models.

It talks to the API server with the user's own kubeconfig and identity (never the operator's), and reads
only what kubedet's user roles grant. main.py parses and dispatches; each command lives in its own module.
"""
