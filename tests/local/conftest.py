"""Fixtures the local runner's tests share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

PG = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def database() -> Iterator[str]:
    psycopg2 = pytest.importorskip("psycopg2")
    name = f"hpo_local_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg2.connect(f"{PG}/postgres")
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432: {exc}")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
