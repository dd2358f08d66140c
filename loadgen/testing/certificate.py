"""A self-signed certificate for 127.0.0.1 and localhost, made by the ``openssl`` command, for
test servers that speak TLS."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["openssl_available", "self_signed"]


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A P-256 key and a certificate valid for a day, written into ``directory``: (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
