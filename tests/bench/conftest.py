"""The benchmarks run on the e2e pipeline: reuse its session fixtures."""

from tests.e2e.conftest import e2e_pipeline, e2e_postgres, e2e_state_dir  # noqa: F401
