"""Command-line tools for the people who run sync jobs, apart from the operator.

They talk to the cluster only through ``kubectl``, so they work wherever the
user's kubectl works, with the same kubeconfig, context and credentials.
What lives here: the ``kubectl syncjob`` plugin (``kubectl_plugin``, its
commands and kubectl runner) and what it shows (``view``, pure).  May import
``api`` and ``units``; never the operator's I/O layers (backends, probes,
handlers) or their drivers.
"""
