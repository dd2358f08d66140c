"""Certificates for test servers that speak TLS, made by the ``openssl`` command: a self-signed
one for 127.0.0.1 and localhost, or a private certificate authority and certificates it signs
(a server's, a client's), to test verification and client certificates."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["Authority", "openssl_available", "self_signed"]

NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
NAMES = "DNS:localhost,IP:127.0.0.1"
HOSTS = f"subjectAltName={NAMES}"
IN_2020 = ("20200101000000Z", "20200102000000Z")  # an expired certificate's day, as ``openssl ca`` takes dates


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A P-256 key and a certificate valid for a day, written into ``directory``: (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    _openssl("req", "-x509", *NEW_KEY, "-days", "1", "-subj", "/CN=localhost", "-addext", HOSTS,
             "-keyout", str(key), "-out", str(cert))  # fmt: skip
    return cert, key


@dataclass(frozen=True)
class Authority:
    """A certificate authority valid for a day, in ``directory`` (``Authority.new``), that signs
    certificates for a server (127.0.0.1 and localhost) or a client."""

    directory: Path
    name: str
    cert: Path
    key: Path

    @classmethod
    def new(cls, directory: Path, name: str = "ca") -> Authority:
        cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
        _openssl(
            *("req", "-x509", *NEW_KEY, "-days", "1", "-subj", f"/CN=loadgen test {name}"),
            *("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"),
            *("-keyout", str(key), "-out", str(cert)),
        )
        return cls(directory, name, cert, key)

    def issue(
        self, name: str, *, client: bool = False, expired: bool = False, early: bool = False, names: str = NAMES
    ) -> tuple[Path, Path]:
        """A certificate signed by this authority and its key: (cert, key). A server's names
        127.0.0.1 and localhost (or ``names``, as subjectAltName lists them); a client's is for
        client authentication; an expired one was valid for a day in 2020, an early one is valid
        from tomorrow (not yet)."""
        cert, key = self.directory / f"{name}.pem", self.directory / f"{name}-key.pem"
        request, extensions = self.directory / f"{name}.csr", self.directory / f"{name}.ext"
        usage = "extendedKeyUsage=clientAuth" if client else f"extendedKeyUsage=serverAuth\nsubjectAltName={names}"
        extensions.write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            f"authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n{usage}\n"
        )
        _openssl("req", "-new", *NEW_KEY, "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(request))
        if expired or early:
            self._sign_for(request, extensions, cert, IN_2020 if expired else _tomorrow())
        else:
            _openssl(
                *("x509", "-req", "-in", str(request), "-CA", str(self.cert), "-CAkey", str(self.key)),
                *("-CAcreateserial", "-days", "1", "-extfile", str(extensions), "-out", str(cert)),
            )
        return cert, key

    def _sign_for(self, request: Path, extensions: Path, cert: Path, dates: tuple[str, str]) -> None:
        """``openssl x509`` signs from now on only; ``openssl ca`` takes any dates (``dates``: from,
        until), with a configuration and a database of what it signed."""
        database, config = self.directory / f"{self.name}-index.txt", self.directory / f"{self.name}-ca.cnf"
        database.touch()
        config.write_text(
            f"[ca]\ndefault_ca = signer\n[signer]\ndatabase = {database}\nnew_certs_dir = {self.directory}\n"
            "rand_serial = yes\ndefault_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\n"
        )
        _openssl(
            *("ca", "-batch", "-config", str(config), "-cert", str(self.cert), "-keyfile", str(self.key)),
            *("-in", str(request), "-extfile", str(extensions), "-notext", "-out", str(cert)),
            *("-startdate", dates[0], "-enddate", dates[1]),
        )


def _tomorrow() -> tuple[str, str]:
    """A day from tomorrow, as ``openssl ca`` takes dates."""
    start = datetime.now(UTC) + timedelta(days=1)
    return start.strftime("%Y%m%d%H%M%SZ"), (start + timedelta(days=1)).strftime("%Y%m%d%H%M%SZ")
