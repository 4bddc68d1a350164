"""TLS of the remoting ports and of the clients that dial them, with RocketMQ's keys.

RocketMQ reads these as JVM system properties, then from the file named by
`tls.config.file` (default /etc/rocketmq/tls.properties), whose values win except for
`tls.server.mode` (TlsHelper.extractTlsConfigFromFile does not read it). OrbitMQ takes
them from a broker's or NameServer's `.properties` file in place of system properties.

Server modes: `disabled` (plain only), `permissive` (RocketMQ's default: plain and TLS on
one port, told apart by a connection's first byte, 0x16 being a TLS handshake record)
and `enforcing` (TLS only). As in RocketMQ, `tls.test.mode.enable` (default true) makes
a server present a fresh self-signed certificate instead of `tls.server.certPath`, and a
client trust any server; a real certificate needs `tls.test.mode.enable=false`.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field

from orbitmq.config_file import ConfigError, apply_properties, read_properties, setting

log = logging.getLogger(__name__)

TLS_KEY_PREFIX = "tls."
TLS_HANDSHAKE_RECORD = 0x16  # the first byte of every TLS connection (a handshake record)
DEFAULT_TLS_CONFIG_FILE = "/etc/rocketmq/tls.properties"
SERVER_MODES = ("disabled", "permissive", "enforcing")
CLIENT_AUTH_MODES = ("none", "optional", "require")
_VERIFY_MODES = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "require": ssl.CERT_REQUIRED,
}


class TlsConfigError(ConfigError):
    """A certificate, key or trust file cannot be used; the message names the key."""


@dataclass(slots=True)
class TlsConfig:
    """RocketMQ's TLS settings (TlsSystemConfig), server and client sides."""

    server_mode: str = field(
        default="permissive", metadata=setting("tls.server.mode", choices=SERVER_MODES)
    )
    server_cert_path: str = field(default="", metadata=setting("tls.server.certPath"))
    server_key_path: str = field(default="", metadata=setting("tls.server.keyPath"))
    server_key_password: str = field(default="", metadata=setting("tls.server.keyPassword"))
    server_need_client_auth: str = field(
        default="none", metadata=setting("tls.server.need.client.auth", choices=CLIENT_AUTH_MODES)
    )
    server_trust_cert_path: str = field(default="", metadata=setting("tls.server.trustCertPath"))
    # Clients: whether to dial with TLS (the broker's registration and slave sync too).
    client_enable: bool = field(default=False, metadata=setting("tls.enable"))
    client_cert_path: str = field(default="", metadata=setting("tls.client.certPath"))
    client_key_path: str = field(default="", metadata=setting("tls.client.keyPath"))
    client_key_password: str = field(default="", metadata=setting("tls.client.keyPassword"))
    client_auth_server: bool = field(default=False, metadata=setting("tls.client.authServer"))
    client_trust_cert_path: str = field(default="", metadata=setting("tls.client.trustCertPath"))
    test_mode: bool = field(default=True, metadata=setting("tls.test.mode.enable"))
    config_file: str = field(default=DEFAULT_TLS_CONFIG_FILE, metadata=setting("tls.config.file"))


def split_tls_properties(
    properties: Mapping[str, object], source: str
) -> tuple[dict[str, object], TlsConfig]:
    """The non-TLS properties, and the TLS settings the `tls.*` ones and `tls.config.file`
    make.

    Raises:
        ConfigError: a TLS value does not parse, or the TLS file cannot be read.
    """
    rest = {k: v for k, v in properties.items() if not k.startswith(TLS_KEY_PREFIX)}
    tls = {k: v for k, v in properties.items() if k.startswith(TLS_KEY_PREFIX)}
    config = TlsConfig()
    apply_properties(config, tls, source=source)
    if os.path.isfile(config.config_file):
        from_file = read_properties(config.config_file)
        mode = config.server_mode
        apply_properties(config, from_file, source=f"{source} ({config.config_file})")
        config.server_mode = mode  # RocketMQ does not take the mode from this file
    return rest, config


def _check_readable(key: str, path: str) -> None:
    if not os.access(path, os.R_OK):
        raise TlsConfigError(f"{key}={path!r}: the file cannot be read")


def _load_key_pair(
    context: ssl.SSLContext, prefix: str, cert: str, key: str, password: str
) -> None:
    _check_readable(f"{prefix}.certPath", cert)
    if key:
        _check_readable(f"{prefix}.keyPath", key)
    try:
        context.load_cert_chain(cert, key or None, password or None)
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(
            f"{prefix}.certPath={cert!r}, {prefix}.keyPath={key!r}: {exc}"
        ) from exc


def _load_trust(context: ssl.SSLContext, key: str, path: str) -> None:
    if not path:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        return
    _check_readable(key, path)
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(f"{key}={path!r}: {exc}") from exc


def self_signed_pair() -> tuple[bytes, bytes]:
    """A fresh self-signed certificate and its key, PEM (as Netty's SelfSignedCertificate).

    An EC P-256 key: made in a millisecond, where RSA would slow every server's start.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orbitmq-test-mode")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _load_self_signed(context: ssl.SSLContext) -> None:
    cert, key = self_signed_pair()
    # ssl only loads a key pair from files: a private directory, gone at once.
    with tempfile.TemporaryDirectory(prefix="orbitmq-tls-") as folder:
        cert_path = os.path.join(folder, "cert.pem")
        key_path = os.path.join(folder, "key.pem")
        for path, data in ((cert_path, cert), (key_path, key)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as fh:
                fh.write(data)
        context.load_cert_chain(cert_path, key_path)


def server_context(config: TlsConfig) -> ssl.SSLContext:
    """The context a server in `permissive` or `enforcing` mode handshakes with.

    Raises:
        TlsConfigError: a certificate, key or trust file cannot be used.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if config.test_mode:
        if config.server_cert_path:
            log.warning(
                "tls.test.mode.enable=true: serving a self-signed certificate, not "
                "tls.server.certPath=%s (set tls.test.mode.enable=false to use it)",
                config.server_cert_path,
            )
        _load_self_signed(context)
        return context  # any client, with a certificate or without
    if not config.server_cert_path:
        raise TlsConfigError(
            f"tls.server.mode={config.server_mode} with tls.test.mode.enable=false needs "
            "tls.server.certPath and tls.server.keyPath"
        )
    _load_key_pair(
        context,
        "tls.server",
        config.server_cert_path,
        config.server_key_path,
        config.server_key_password,
    )
    context.verify_mode = _VERIFY_MODES[config.server_need_client_auth]
    if context.verify_mode != ssl.CERT_NONE:
        _load_trust(context, "tls.server.trustCertPath", config.server_trust_cert_path)
    return context


def client_context(config: TlsConfig) -> ssl.SSLContext:
    """The context a client dials a TLS server with.

    As RocketMQ's clients: in test mode, or without `tls.client.authServer`, any server
    certificate is taken; otherwise it must chain to `tls.client.trustCertPath` (or the
    system's roots). Host names are not checked (RocketMQ's do not: brokers are dialled
    by the IP address they register).

    Raises:
        TlsConfigError: a certificate, key or trust file cannot be used.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if config.test_mode or not config.client_auth_server:
        context.verify_mode = ssl.CERT_NONE
    else:
        _load_trust(context, "tls.client.trustCertPath", config.client_trust_cert_path)
    if config.client_cert_path and not config.test_mode:
        _load_key_pair(
            context,
            "tls.client",
            config.client_cert_path,
            config.client_key_path,
            config.client_key_password,
        )
    return context


def _read_pem(key: str, path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise TlsConfigError(f"{key}={path!r}: {exc}") from exc


def server_pem(config: TlsConfig) -> tuple[bytes, bytes, bytes | None]:
    """The certificate chain, key and client trust roots (None: client certificates are
    not checked), as PEM, for a server that takes them as bytes (the gRPC port).

    Raises:
        TlsConfigError: a file cannot be read, or a setting cannot be served this way.
    """
    if config.test_mode:
        cert, key = self_signed_pair()
        return cert, key, None
    if not config.server_cert_path or not config.server_key_path:
        raise TlsConfigError(
            "tls.test.mode.enable=false needs tls.server.certPath and tls.server.keyPath"
        )
    if config.server_key_password:
        raise TlsConfigError("tls.server.keyPassword: the gRPC port needs an unencrypted key")
    trust = None
    if config.server_need_client_auth != "none":
        if not config.server_trust_cert_path:
            raise TlsConfigError(
                f"tls.server.need.client.auth={config.server_need_client_auth} on the gRPC "
                "port needs tls.server.trustCertPath"
            )
        trust = _read_pem("tls.server.trustCertPath", config.server_trust_cert_path)
    return (
        _read_pem("tls.server.certPath", config.server_cert_path),
        _read_pem("tls.server.keyPath", config.server_key_path),
        trust,
    )


@dataclass(frozen=True, slots=True)
class ServerTls:
    """What a remoting server needs: its mode, and the context for TLS connections."""

    mode: str
    context: ssl.SSLContext | None

    @classmethod
    def from_config(cls, config: TlsConfig) -> ServerTls:
        """Raises TlsConfigError: a certificate, key or trust file cannot be used."""
        if config.server_mode == "disabled":
            return cls("disabled", None)
        return cls(config.server_mode, server_context(config))


def dial_context(config: TlsConfig) -> ssl.SSLContext | None:
    """The context a broker dials NameServers and its master with (`tls.enable`)."""
    return client_context(config) if config.client_enable else None


def client_tls(tls: bool | TlsConfig) -> ssl.SSLContext | None:
    """What a client object's `tls` argument asks for: False (plain), True (TLS with the
    defaults, any server certificate taken, as RocketMQ's `useTLS` in test mode), or the
    `tls.client.*` settings of a TlsConfig."""
    if tls is False:
        return None
    return client_context(TlsConfig() if tls is True else tls)
