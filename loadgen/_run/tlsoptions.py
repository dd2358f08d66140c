"""The client's TLS beyond wrk's (``--cacert``, ``--verify``, ``--cert``/``--key``,
``--tls-version``): read once before the run, shipped to the workers as text, applied to the
protocol's context, and tried by one handshake before the run, so that a server that refuses
it is one line saying why (an unknown CA, a name that does not match, a certificate required),
as an unreachable server is.

Without any of them nothing changes: no verification, as wrk, and a handshake that fails during
the run counts as a connect error.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import SetupError, shown
from ..inputfiles import read_whole_text
from ..prerun import PreRunConnection
from ..settings import Settings
from ..target import NOT_TLS, NOT_TLS_REASON, Address
from ..tlsrefusals import CLOSED_AFTER_HANDSHAKE, SERVER_REFUSED

__all__ = ["TlsOptions", "check_handshake", "configure", "read_options", "refused"]

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
UNKNOWN_CA = {18, 19, 20, 21}  # X509_V_ERR_: self-signed, self-signed in chain, no local issuer, unable to verify leaf
NAME_MISMATCH = {62: "hostname mismatch", 64: "address mismatch"}  # X509_V_ERR_HOSTNAME_, IP_ADDRESS_MISMATCH


@dataclass(frozen=True)
class TlsOptions:
    """What the workers' TLS context needs, as plain text (the files' contents: a worker may run
    on another machine)."""

    verify: bool  # check the server's certificate and name
    cadata: str | None = None  # --cacert's PEM (None: the system's CAs, when verifying)
    cert: str | None = None  # --cert's PEM (the chain, and the key when --key is not given)
    key: str | None = None  # --key's PEM
    version: str | None = None  # "1.2" or "1.3": the only version offered
    # The files' names as a one-line message shows them (errors.shown: a newline in one split the line):
    key_file: str = ""  # the file the key was read from (--key's, or --cert's): named when it is encrypted
    ca_file: str = ""  # --cacert's file: named when OpenSSL cannot use it
    cert_file: str = ""  # --cert's file: named, with key_file, when OpenSSL cannot use them


def _read(flag: str, path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return read_whole_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SetupError(f"cannot read {flag} {shown(path)}: {reason}") from None


def read_options(settings: Settings) -> TlsOptions | None:
    """The files read and checked (SetupError naming the flag); None when no option asks for
    more than wrk's TLS (``--sni`` alone does not: it is the workers' server name)."""
    if not any(value for flag, value in settings.tls_flags.items() if flag != "--sni"):
        return None
    options = TlsOptions(
        settings.verify or settings.cacert is not None,
        _read("--cacert", settings.cacert),
        _read("--cert", settings.cert),
        _read("--key", settings.key),
        settings.tls_version,
        shown(settings.key or settings.cert or ""),
        shown(settings.cacert or ""),
        shown(settings.cert or ""),
    )
    _check_pem(settings, options)
    configure(ssl.create_default_context(), options)  # a bad certificate or key is found here, once
    return options


def _check_pem(settings: Settings, options: TlsOptions) -> None:
    """A client certificate's file without a certificate, or without the key --key left out, named:
    OpenSSL's reason for either is "PEM lib"."""
    if options.cert is None:
        return
    if "CERTIFICATE-----" not in options.cert:
        raise SetupError(f"--cert {options.cert_file}: no PEM certificate in it")
    if "PRIVATE KEY-----" not in (options.key or options.cert):
        hint = "" if settings.key else ": give its key with --key"
        raise SetupError(f"{'--key' if settings.key else '--cert'} {options.key_file}: no PEM private key in it{hint}")


def configure(context: ssl.SSLContext, options: TlsOptions) -> None:
    """Apply the options to a protocol's client context (which verifies nothing)."""
    if options.verify:
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = True
        if options.cadata is not None:
            _load_ca(context, options.cadata, options.ca_file)
        else:
            context.load_default_certs()
    if options.version is not None:
        context.minimum_version = context.maximum_version = VERSIONS[options.version]
    if options.cert is not None:
        _load_chain(context, options)


@contextmanager
def _on_disk(*texts: str | None) -> Iterator[list[str | None]]:
    """ssl loads a client certificate from files only, and a CA whose file has text that is not
    ASCII around its PEM blocks too: the texts written to private temporary files (None: none)."""
    with tempfile.TemporaryDirectory(prefix="loadgen-tls-") as folder:
        paths = [None if text is None else os.path.join(folder, f"{i}.pem") for i, text in enumerate(texts)]
        for path, text in zip(paths, texts, strict=True):
            if path is not None and text is not None:
                Path(path).write_text(text)
        yield paths


def _why(exc: OSError) -> str:
    """OpenSSL's reason for a file it cannot use, or the system's."""
    return getattr(exc, "reason", None) or exc.strerror or str(exc)


def _load_ca(context: ssl.SSLContext, cadata: str, ca_file: str) -> None:
    with _on_disk(cadata) as (path,):
        try:
            context.load_verify_locations(cafile=path)
        except OSError as exc:
            raise SetupError(f"--cacert {ca_file}: not a usable PEM certificate ({_why(exc)})") from None


class _Encrypted(Exception):
    """The key asks for a passphrase."""


def _no_passphrase() -> str:
    """load_cert_chain's password callback: OpenSSL would otherwise prompt on the terminal, in
    the parent and again in each worker."""
    raise _Encrypted


def _load_chain(context: ssl.SSLContext, options: TlsOptions) -> None:
    with _on_disk(options.cert, options.key) as (cert, key):
        try:
            context.load_cert_chain(cert, key, password=_no_passphrase)  # type: ignore[arg-type]  # cert: set
        except _Encrypted:
            flag = "--key" if options.key is not None else "--cert"
            raise SetupError(
                f"{flag} {options.key_file}: the private key is encrypted and loadgen asks for no passphrase: "
                f"give it unencrypted (openssl pkey -in {options.key_file} -out key.pem)"
            ) from None
        except OSError as exc:
            files = f"{options.cert_file} and {options.key_file}" if options.key_file != options.cert_file else ""
            named = f"--cert/--key {files}" if files else f"--cert {options.cert_file}"
            raise SetupError(f"{named}: not a certificate and its private key ({_why(exc)})") from None


def describe(exc: ssl.SSLError) -> str:
    """Why a handshake failed, in the user's words."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in UNKNOWN_CA:
            return f"the server's certificate is signed by an unknown CA ({exc.verify_message})"
        if exc.verify_code in NAME_MISMATCH:
            return f"{NAME_MISMATCH[exc.verify_code]}: {exc.verify_message} (--sni sets the name checked)"
        return f"the server's certificate was refused: {exc.verify_message}"
    if exc.reason == NOT_TLS_REASON:
        return NOT_TLS
    if isinstance(exc, ssl.SSLEOFError) and exc.reason not in SERVER_REFUSED:
        return CLOSED_AFTER_HANDSHAKE
    return SERVER_REFUSED.get(exc.reason or "", exc.reason or str(exc))


def refused(address: Address, exc: ssl.SSLError) -> SetupError:
    """The line for a handshake the run's TLS options did not get through (this check's, or the
    HTTP/2 test connection's)."""
    return SetupError(f"TLS handshake with {address.host}:{address.port} failed: {describe(exc)}")


def check_handshake(
    address: Address,
    server_name: str,
    context: ssl.SSLContext,
    request: bytes,
    stop: threading.Event | None,
    wait_s: float,
) -> None:
    """One handshake and one request with the run's TLS, before the run: a SetupError saying why
    the server refused it. The request is written and a response awaited because TLS 1.3 tells a
    client without the certificate the server requires only after the handshake. A server that
    does not answer within ``wait_s`` is left to the run, which says what it says of any server
    that does not answer ("no response from the server"): this check has nothing to decide, where
    the HTTP/2 probe, which waits as long, must choose a protocol. ``stop`` ends it at once
    (Interrupted)."""
    try:
        with PreRunConnection(address, stop, wait_s) as connection:
            connection.start_tls(context, server_name)
            connection.send(request)
            connection.recv(1)
    except ssl.SSLError as exc:
        raise refused(address, exc) from None
    except OSError:
        return  # no answer in time, or not TLS's to report: the run counts what the connections see
