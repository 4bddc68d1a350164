"""NameServer commands: getNamesrvConfig, updateNamesrvConfig, updateKvConfig,
deleteKvConfig, wipeWritePerm, addWritePerm (tools/command/namesrv/*.java).

Each acts on every NameServer of `-n` (the list, `;` separated). wipeWritePerm and
addWritePerm go on after a NameServer fails, as Java's do, print `... Failed` for it, and
then exit non-zero.
"""

from __future__ import annotations

import click

from orbitmq.admin.runner import (
    CommandError,
    admin_command,
    client_options,
    describe_error,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.admin.tables import config_lines
from orbitmq.client.admin import MQAdmin


@admin_command("getNamesrvConfig", help="Get configs of name server.")
def get_namesrv_config(namesrv_addr: str | None) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            configs = await admin.get_namesrv_config()
        for addr, config in configs.items():
            output().lines(config_lines(addr, config))
        output().result(configs)

    run_command("getNamesrvConfig", body())


@admin_command("updateNamesrvConfig", help="Update configs of name server.")
@click.option("-k", "--key", required=True, help="config key")
@click.option("-v", "--value", required=True, help="config value")
def update_namesrv_config(namesrv_addr: str | None, key: str, value: str) -> None:
    if not key.strip():
        raise click.BadParameter("the config key is empty", param_hint="-k")
    namesrv = resolve_namesrv(namesrv_addr)
    key, value = key.strip(), value.strip()

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            await admin.update_namesrv_config({key: value})
            servers = admin.namesrv_addrs
        listed = f"[{', '.join(servers)}]" if namesrv_addr else ""
        output().line(f"update name server config success!{listed}")
        output().line(f"{key} : {value}")
        output().result({"nameServers": servers, "key": key, "value": value})

    run_command("updateNamesrvConfig", body())


@admin_command("updateKvConfig", help="Create or update KV config.")
@click.option("-s", "--namespace", required=True, help="set the namespace")
@click.option("-k", "--key", required=True, help="set the key name")
@click.option("-v", "--value", required=True, help="set the key value")
def update_kv_config(namesrv_addr: str | None, namespace: str, key: str, value: str) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            await admin.put_kv_config(namespace.strip(), key.strip(), value.strip())
        output().line("create or update kv config to namespace success.")
        output().result(
            {"namespace": namespace.strip(), "key": key.strip(), "value": value.strip()}
        )

    run_command("updateKvConfig", body())


@admin_command("deleteKvConfig", help="Delete KV config.")
@click.option("-s", "--namespace", required=True, help="set the namespace")
@click.option("-k", "--key", required=True, help="set the key name")
def delete_kv_config(namesrv_addr: str | None, namespace: str, key: str) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            await admin.delete_kv_config(namespace.strip(), key.strip())
        output().line("delete kv config from namespace success.")
        output().result({"namespace": namespace.strip(), "key": key.strip()})

    run_command("deleteKvConfig", body())


def _perm_command(name: str, help: str, verb: str, method: str):  # type: ignore[no-untyped-def]
    @admin_command(name, help=help)
    @click.option("-b", "--brokerName", "broker_name", required=True, help="broker name")
    def command(namesrv_addr: str | None, broker_name: str) -> None:
        namesrv = resolve_namesrv(namesrv_addr)
        broker = broker_name.strip()

        async def body() -> None:
            out = output()
            failures = []
            async with MQAdmin(namesrv, **client_options()) as admin:
                for addr in admin.namesrv_addrs:
                    try:
                        count = await getattr(admin, method)(addr, broker)
                    except Exception as exc:
                        out.line(
                            f"{verb} write perm of broker[{broker}] in name server[{addr}] Failed"
                        )
                        out.record({"nameServer": addr, "ok": False, "error": describe_error(exc)})
                        failures.append(f"{addr}: {describe_error(exc)}")
                        continue
                    out.line(
                        f"{verb} write perm of broker[{broker}] in name server[{addr}] OK, {count}"
                    )
                    out.record({"nameServer": addr, "ok": True, "topicCount": count})
            if failures:
                out.finish()
                raise CommandError("; ".join(failures))

        run_command(name, body())

    return command


wipe_write_perm = _perm_command(
    "wipeWritePerm",
    "Wipe write perm of broker in all name server you defined in the -n param",
    "wipe",
    "wipe_write_perm_of_broker",
)
add_write_perm = _perm_command(
    "addWritePerm",
    "Add write perm of broker in all name server you defined in the -n param",
    "add",
    "add_write_perm_of_broker",
)

COMMANDS = [
    get_namesrv_config,
    update_namesrv_config,
    update_kv_config,
    delete_kv_config,
    wipe_write_perm,
    add_write_perm,
]
