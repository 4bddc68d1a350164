"""TLS settings (orbitmq/remoting/tls.py) and a remoting server's TLS modes over real
loopback sockets: plain and TLS on one port, TLS only, client certificates."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from orbitmq.config_file import ConfigError
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.errors import RemotingError
from orbitmq.remoting.server import RemotingServer
from orbitmq.remoting.tls import (
    ServerTls,
    TlsConfig,
    TlsConfigError,
    client_tls,
    server_context,
    server_pem,
    split_tls_properties,
)
from tests.tls_certs import CertificateAuthority


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


def certified(ca: CertificateAuthority, mode: str, need_client_auth: str = "none") -> TlsConfig:
    server = ca.issue("server")
    return TlsConfig(
        server_mode=mode,
        server_cert_path=str(server.cert),
        server_key_path=str(server.key),
        server_need_client_auth=need_client_auth,
        server_trust_cert_path=str(ca.cert),
        test_mode=False,
    )


def verifying_client(ca: CertificateAuthority, trust: Path, with_cert: bool) -> TlsConfig:
    config = TlsConfig(test_mode=False, client_auth_server=True, client_trust_cert_path=str(trust))
    if with_cert:
        client = ca.issue("client")
        config.client_cert_path = str(client.cert)
        config.client_key_path = str(client.key)
    return config


async def ask(server: RemotingServer, tls: bool | TlsConfig) -> int:
    """One request over a new connection; the code of its answer."""
    client = RemotingClient(tls=client_tls(tls), connect_timeout=2.0)
    try:
        request = RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO, {})
        response = await client.invoke(f"127.0.0.1:{server.bound_ports[0]}", request, 2.0)
        return response.code
    finally:
        await client.aclose()


def test_file_settings_win_except_the_mode(tmp_path: Path) -> None:
    tls_file = tmp_path / "tls.properties"
    tls_file.write_text(
        "tls.server.mode=disabled\ntls.test.mode.enable=false\ntls.server.certPath=/f.crt\n"
    )
    rest, config = split_tls_properties(
        {
            "listenPort": "10911",
            "tls.server.mode": "enforcing",
            "tls.server.certPath": "/p.crt",
            "tls.config.file": str(tls_file),
        },
        "broker config",
    )
    assert rest == {"listenPort": "10911"}
    assert config.server_mode == "enforcing"  # RocketMQ does not read the mode there
    assert config.server_cert_path == "/f.crt"
    assert config.test_mode is False


def test_defaults_are_rocketmqs() -> None:
    _, config = split_tls_properties({"tls.config.file": "/nonexistent/tls.properties"}, "t")
    assert (config.server_mode, config.test_mode, config.client_enable) == (
        "permissive",
        True,
        False,
    )


def test_a_bad_mode_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"tls\.server\.mode='strict'"):
        split_tls_properties({"tls.server.mode": "strict"}, "t")


def test_an_unreadable_certificate_names_the_key(tmp_path: Path) -> None:
    config = TlsConfig(server_cert_path=str(tmp_path / "missing.crt"), test_mode=False)
    with pytest.raises(TlsConfigError, match=r"tls\.server\.certPath="):
        server_context(config)
    with pytest.raises(TlsConfigError, match=r"needs tls\.server\.certPath"):
        server_context(TlsConfig(test_mode=False))


def test_disabled_builds_no_context() -> None:
    assert ServerTls.from_config(TlsConfig(server_mode="disabled")).context is None


async def test_permissive_serves_plain_and_tls_on_one_port(make_server) -> None:
    server = await make_server(TlsConfig())  # RocketMQ's defaults: a self-signed certificate
    not_supported = ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    assert await ask(server, False) == not_supported
    assert await ask(server, True) == not_supported


async def test_enforcing_refuses_plain_connections_and_logs_once(
    make_server, ca: CertificateAuthority, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(certified(ca, "enforcing"))
    verifying = verifying_client(ca, ca.cert, with_cert=False)
    assert await ask(server, verifying) == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    for _ in range(3):
        with pytest.raises(RemotingError):
            await ask(server, False)
    assert caplog.text.count("plain connection refused from 127.0.0.1") == 1


async def test_a_client_checks_the_server_certificate(
    make_server, ca: CertificateAuthority, tmp_path: Path
) -> None:
    server = await make_server(certified(ca, "enforcing"))
    other_ca = CertificateAuthority(tmp_path / "other", "another CA")
    with pytest.raises(RemotingError, match="CERTIFICATE_VERIFY_FAILED"):
        await ask(server, verifying_client(ca, other_ca.cert, with_cert=False))


async def test_required_client_certificates(make_server, ca: CertificateAuthority) -> None:
    server = await make_server(certified(ca, "enforcing", need_client_auth="require"))
    with_cert = verifying_client(ca, ca.cert, with_cert=True)
    assert await ask(server, with_cert) == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    with pytest.raises(RemotingError):
        # TLS 1.3: the server refuses the missing certificate after the client's
        # handshake ends, so the request is what fails.
        await ask(server, verifying_client(ca, ca.cert, with_cert=False))


async def test_sockets_waiting_for_a_first_byte_count_against_the_caps(
    make_server, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(TlsConfig(), max_connections_per_address=2)
    port = server.bound_ports[0]
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    try:
        with pytest.raises(ConnectionResetError):  # reset at once, as over any cap
            await asyncio.wait_for(streams[2][0].read(1), 2)
        assert "connection refused from 127.0.0.1" in caplog.text
    finally:
        for _, writer in streams:
            writer.close()


async def test_a_socket_silent_past_the_idle_time_is_closed(
    make_server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = await make_server(TlsConfig(), idle_seconds=60)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_ports[0])
    try:
        deadline = time.monotonic() + 2
        while not server.waiting_sockets and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        server.enforce_time_limits(time.monotonic() + 61)
        assert await asyncio.wait_for(reader.read(1), 2) == b""
        assert "no first byte in 60 s" in caplog.text
    finally:
        writer.close()


def test_pem_for_the_grpc_port(ca: CertificateAuthority) -> None:
    cert, key, trust = server_pem(TlsConfig())  # test mode: self-signed
    assert cert.startswith(b"-----BEGIN CERTIFICATE") and b"PRIVATE KEY" in key
    assert trust is None
    config = certified(ca, "enforcing", need_client_auth="require")
    cert, _, trust = server_pem(config)
    assert cert == Path(config.server_cert_path).read_bytes()
    assert trust == ca.cert.read_bytes()
    config.server_trust_cert_path = ""
    with pytest.raises(TlsConfigError, match=r"needs tls\.server\.trustCertPath"):
        server_pem(config)
    config.server_key_password = "secret"
    with pytest.raises(TlsConfigError, match="unencrypted key"):
        server_pem(config)
