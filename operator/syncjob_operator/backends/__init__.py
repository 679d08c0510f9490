"""The adapters that act: Kafka Connect's REST API, Strimzi KafkaConnectors, scaled workloads.

What lives here: thin I/O that turns HTTP and Kubernetes answers into
``decide.observed`` values and typed errors, and carries out the actions a
decision returns; nothing here decides what to do.  ``kube`` (the Kubernetes
client) and ``connector_status`` (Connect's status JSON) are shared; the
Connect, Strimzi and workload adapters do not import each other.  May import
``decide`` and ``api``, never ``handlers``.
"""
