"""A real S3 HTTP endpoint for tests: moto's server in a thread of the test process.

Every boto3 client that gets :attr:`S3Server.environment` (``AWS_ENDPOINT_URL`` and
dummy credentials) talks to it over loopback HTTP, from this process or from any
process started with that environment (the service, Ray nodes and their workers).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class S3Server:
    endpoint: str

    @property
    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "robustedge-test",
            "AWS_SECRET_ACCESS_KEY": "robustedge-test",
            "AWS_DEFAULT_REGION": "us-east-1",
            # No ~/.aws files of the machine's user: only the values above count.
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }

    def client(self) -> Any:
        import boto3

        env = self.environment
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Key -> size of every object under ``prefix``."""
        found: dict[str, int] = {}
        for page in (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        ):
            found.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
        return found


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """Starts moto's S3 server on a free loopback port; stops it afterwards."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request at INFO: a line per file moved, in every output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
