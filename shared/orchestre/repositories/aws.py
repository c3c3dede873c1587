"""Lazily created boto3 clients (a client made before moto starts would not be mocked)."""

from __future__ import annotations

import os
from functools import cache

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)


@cache
def client(service: str):
    return boto3.client(service, region_name=os.environ.get("AWS_REGION", "eu-west-3"), config=_CONFIG)


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value
