"""An S3-compatible server on 127.0.0.1 for tests: moto's threaded server, one bucket.

Tests run the same artifact spec on a local folder and on S3 without any cloud account.
It needs the dev extra (moto[server], s3fs); nothing here is imported by ``import shoal``.
"""

from __future__ import annotations

import logging
import os
from types import TracebackType
from typing import Any

from shoal.errors import MissingDependency
from shoal.testing.servers import free_port

_DUMMY_KEY = "shoal-test-key"
_DUMMY_SECRET = "shoal-test-secret"
_ENV = {"AWS_EC2_METADATA_DISABLED": "true"}
_REQUEST_LOG = logging.getLogger("werkzeug")


class LocalS3Server:
    """Context manager: an S3 server on a free loopback port with one empty bucket.

    While it runs, it sets ``AWS_EC2_METADATA_DISABLED=true`` in ``os.environ`` (so no
    client ever asks a cloud metadata address for credentials) and raises the ``werkzeug``
    logger to WARNING (one log line per request otherwise), and restores both on exit; it
    changes nothing else globally. Clients pass explicit dummy credentials through
    :attr:`storage_options`::

        with LocalS3Server() as s3:
            store = open_artifact_store(s3.url("artifacts"), s3.storage_options)
    """

    def __init__(self, bucket: str = "shoal-test", region: str = "us-east-1") -> None:
        self.bucket = bucket
        self.region = region
        self.endpoint_url = ""
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_log_level: int | None = None

    @property
    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for s3fs/fsspec: dummy credentials and this endpoint."""
        return {
            "key": _DUMMY_KEY,
            "secret": _DUMMY_SECRET,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region},
        }

    def url(self, prefix: str = "") -> str:
        """An ``s3://`` URL in this server's bucket, under ``prefix``."""
        return f"s3://{self.bucket}/{prefix}".rstrip("/")

    def __enter__(self) -> LocalS3Server:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise MissingDependency(
                "LocalS3Server needs moto's server: pip install 'shoal[dev]'"
            ) from None
        self._saved_env = {name: os.environ.get(name) for name in _ENV}
        os.environ.update(_ENV)
        self._saved_log_level = _REQUEST_LOG.level
        _REQUEST_LOG.setLevel(logging.WARNING)
        try:
            port = free_port()
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            self._server.start()
            self.endpoint_url = f"http://127.0.0.1:{port}"
            self._create_bucket()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.stop()
            inner = getattr(self._server, "_server", None)
            if inner is not None:  # stop() leaves the listening socket open
                inner.server_close()
            self._server = None
        if self._saved_log_level is not None:
            _REQUEST_LOG.setLevel(self._saved_log_level)
            self._saved_log_level = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def _create_bucket(self) -> None:
        import botocore.session

        client = botocore.session.Session().create_client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=_DUMMY_KEY,
            aws_secret_access_key=_DUMMY_SECRET,
        )
        try:
            client.create_bucket(Bucket=self.bucket)
        finally:
            client.close()
