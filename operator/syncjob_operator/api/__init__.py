"""The SyncJob API: its models (spec and status), and the CRD generated from them.

What lives here: pydantic models and the vocabulary they are written in
(``fields``), the resource's names and wire helpers (``v1alpha1``), and the
CRD generator (``crd``).  It may import ``units`` and pydantic/PyYAML, and
nothing that does I/O: everything else imports the API, never the reverse.
"""
