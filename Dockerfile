# The syncjob-operator image: `python -m syncjob_operator` (console script
# syncjob-operator) as a non-root user on python:3.11-slim.
#
# Multi-stage: the builder installs the package and its dependencies into a
# virtualenv (all of them ship manylinux wheels: psycopg[binary],
# confluent-kafka, ...; no compiler needed); the runtime stage copies only
# that virtualenv.  The same image provides kubectl-syncjob.
#
# Not built in this repository's CI: the development environment has no
# Docker.  Build with:  docker build -t syncjob-operator:dev .
# The Helm chart runs it with a read-only root filesystem (and /tmp as an
# emptyDir), as UID 10001, with every capability dropped.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, so a source change does not re-download them: install
# the declared dependencies from pyproject.toml before copying the code.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt
COPY README.md* ./
COPY operator/ ./operator/
RUN pip install --no-deps . \
 && python -c "import syncjob_operator.api.v1alpha1, syncjob_operator.cli.kubectl_plugin"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="syncjob-operator" \
      org.opencontainers.image.description="GitOps pause/resume for continuous relational-to-MongoDB sync jobs" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 syncjob \
 && useradd --system --uid 10001 --gid syncjob --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin syncjob
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SYNCJOB_LOG_FORMAT=json
# Numeric, so Kubernetes can verify runAsNonRoot without a passwd lookup.
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["syncjob-operator"]
