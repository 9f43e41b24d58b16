"""Fixtures shared across the test packages."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.ray.cluster import LocalRayCluster, ray_env, start_cluster


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRayCluster]:
    """A real Ray cluster of two nodes on loopback (a head and a worker, one GPU declared on each),
    started once for the session; a test that kills a node adds a new one before it ends."""
    saved = dict(os.environ)
    # The runners that the tests' sweeps start inherit this: the cluster runs without a token.
    os.environ.update({k: v for k, v in ray_env().items() if k.startswith("RAY_")})
    cluster = start_cluster(tmp_path_factory.mktemp("ray-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()
        os.environ.clear()
        os.environ.update(saved)
