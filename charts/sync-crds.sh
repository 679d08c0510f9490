#!/usr/bin/env bash
# Copies the generated SyncJob CRD (crds/, generated from the pydantic models
# by `python -m syncjob_operator.api.crd`) into the Helm chart's crds/ folder.
# Helm installs a chart's crds/ verbatim and cannot reference files outside
# the chart, so the chart carries a copy; tests/unit/test_chart.py fails when
# the copy is stale.  Run it after regenerating the CRD:
#   python -m syncjob_operator.api.crd && charts/sync-crds.sh
# With --check it copies nothing and exits 1 when the copy differs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$here/../crds/syncjob.dev_syncjobs.yaml
dst=$here/syncjob-operator/crds/syncjob.dev_syncjobs.yaml

if [[ ${1:-} == --check ]]; then
  if cmp -s "$src" "$dst"; then exit 0; fi
  echo "charts: $dst differs from crds/; run charts/sync-crds.sh" >&2
  exit 1
fi
cp "$src" "$dst"
echo "copied $src -> $dst" >&2
