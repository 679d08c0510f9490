"""Command-line tools for the people who run sync jobs, apart from the operator.

They talk to the cluster only through ``kubectl``, so they work wherever the
user's kubectl works, with the same kubeconfig, context and credentials.
"""
