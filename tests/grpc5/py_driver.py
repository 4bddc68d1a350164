"""Drives the official RocketMQ 5.x Python client (PyPI rocketmq-python-client) for the
tests. Run with the .venv-rmq5 interpreter (scripts/grpc5_clients_env.sh); it never
imports orbitmq. One JSON object per line on stdout: every send, every message, and a
final {"done": ...}.

  produce   --endpoint E --topic T --count N [--tag T] [--keys-prefix K] [--body-prefix B]
            [--message-group G] [--groups N] [--delay-seconds S] [--recall-even]
            [--property k=v]
  transaction --endpoint E --topic T --count N --resolution commit|rollback|none
            [--check commit|rollback] [--wait S]
  simple    --endpoint E --group G --topic T --expect N [--expression E] [--sql]
            [--invisible S] [--no-ack-first K] [--never-ack] [--change-invisible S]
            [--batch N] [--timeout S] [--await S]
  push      --endpoint E --group G --topic T --expect N [--expression E]
            [--fail-first K] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from rocketmq import (
    ClientConfiguration,
    ConsumeResult,
    Credentials,
    FilterExpression,
    Message,
    MessageListener,
    Producer,
    PushConsumer,
    SimpleConsumer,
    TransactionChecker,
    TransactionResolution,
)


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def view(message) -> dict:  # type: ignore[no-untyped-def]
    return {
        "message_id": message.message_id,
        "topic": message.topic,
        "body": message.body.decode(errors="replace"),
        "tag": message.tag,
        "keys": sorted(message.keys or ()),
        "properties": dict(message.properties or {}),
        "attempt": message.delivery_attempt,
        "group": message.message_group,
        "delivery_timestamp": message.delivery_timestamp,
        "corrupted": bool(message.corrupted),
        "received_at": time.time(),
    }


def config(args) -> ClientConfiguration:  # type: ignore[no-untyped-def]
    credentials = (
        Credentials(args.access_key, args.secret_key) if args.access_key else Credentials()
    )
    return ClientConfiguration(args.endpoint, credentials, request_timeout=5)


def new_message(args, i: int) -> Message:  # type: ignore[no-untyped-def]
    message = Message()
    message.topic = args.topic
    message.body = f"{args.body_prefix}-{i}".encode()
    if args.tag:
        message.tag = args.tag
    message.keys = f"{args.keys_prefix}-{i}"
    for item in args.property:
        key, _, value = item.partition("=")
        message.add_property(key, value)
    message.add_property("seq", str(i))
    if args.message_group:
        message.message_group = f"{args.message_group}-{i % args.groups}"
    if args.delay_seconds:
        message.delivery_timestamp = int(time.time()) + args.delay_seconds
    return message


def produce(args) -> None:  # type: ignore[no-untyped-def]
    producer = Producer(config(args), (args.topic,), tls_enable=args.tls)
    producer.startup()
    failed = 0
    try:
        for i in range(args.count):
            sent_at = time.time()
            try:
                receipt = producer.send(new_message(args, i))
            except Exception as exc:
                failed += 1
                emit({"i": i, "error": f"{type(exc).__name__}: {exc}"})
                continue
            emit(
                {
                    "i": i,
                    "message_id": receipt.message_id,
                    "offset": receipt.offset,
                    "sent_at": sent_at,
                }
            )
            if args.recall_even and i % 2 == 0:
                emit({"recalled": producer.recall_message(args.topic, receipt.recall_handle)})
    finally:
        producer.shutdown()
    emit({"done": args.count - failed, "failed": failed})


class Checker(TransactionChecker):
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.checked: list[str] = []

    def check(self, message: Message) -> TransactionResolution:
        self.checked.append(message.message_id)
        emit({"checked": message.message_id, "body": message.body.decode()})
        return (
            TransactionResolution.COMMIT
            if self.answer == "commit"
            else TransactionResolution.ROLLBACK
        )


def transaction(args) -> None:  # type: ignore[no-untyped-def]
    checker = Checker(args.check)
    producer = Producer(config(args), (args.topic,), checker)
    producer.startup()
    try:
        for i in range(args.count):
            tx = producer.begin_transaction()
            receipt = producer.send(new_message(args, i), tx)
            emit({"i": i, "message_id": receipt.message_id})
            if args.resolution == "commit":
                tx.commit()
            elif args.resolution == "rollback":
                tx.rollback()
        deadline = time.time() + args.wait
        while time.time() < deadline and len(checker.checked) < (
            args.count if args.resolution == "none" else 0
        ):
            time.sleep(0.2)
    finally:
        producer.shutdown()
    emit({"done": args.count, "checked": len(checker.checked)})


def simple(args) -> None:  # type: ignore[no-untyped-def]
    # FilterType: TAG = 1, SQL = 2 (definition.proto).
    expression = FilterExpression(args.expression, 2 if args.sql else 1)
    consumer = SimpleConsumer(
        config(args),
        args.group,
        {args.topic: expression},
        await_duration=args.await_seconds,
        tls_enable=args.tls,
    )
    consumer.startup()
    emit({"started": True})
    acked: set[str] = set()  # distinct: a message stored twice counts once
    skipped: set[str] = set()
    deadline = time.time() + args.timeout
    try:
        while len(acked) < args.expect and time.time() < deadline:
            for message in consumer.receive(args.batch, args.invisible):
                record = view(message)
                first_time = message.message_id not in skipped
                if args.never_ack or (len(skipped) < args.no_ack_first and first_time):
                    skipped.add(message.message_id)
                    record["acked"] = False
                    emit(record)
                    continue
                if args.change_invisible:
                    # The client takes the new receipt handle; the ack below uses it.
                    consumer.change_invisible_duration(message, args.change_invisible)
                    record["changed"] = True
                consumer.ack(message)
                record["acked"] = True
                emit(record)
                acked.add(message.message_id)
    finally:
        consumer.shutdown()
    emit({"done": len(acked)})


class Listener(MessageListener):
    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.failures: dict[str, int] = {}
        self.acked: set[str] = set()
        self.lock = threading.Lock()

    def consume(self, message: Message) -> ConsumeResult:
        record = view(message)
        with self.lock:
            failed = self.failures.get(message.message_id, 0)
            if failed < self.fail_first:
                self.failures[message.message_id] = failed + 1
                record["result"] = "FAILURE"
                emit(record)
                return ConsumeResult.FAILURE
            self.acked.add(message.message_id)
        record["result"] = "SUCCESS"
        emit(record)
        return ConsumeResult.SUCCESS


def push(args) -> None:  # type: ignore[no-untyped-def]
    listener = Listener(args.fail_first)
    consumer = PushConsumer(
        config(args), args.group, listener, {args.topic: FilterExpression(args.expression)}
    )
    consumer.startup()
    emit({"started": True})
    deadline = time.time() + args.timeout
    try:
        while len(listener.acked) < args.expect and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(args.linger)
    finally:
        consumer.shutdown()
    emit({"done": len(listener.acked)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["produce", "transaction", "simple", "push"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", default="")
    parser.add_argument("--access-key", default="")
    # A TLS channel, trusting gRPC's default roots (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH).
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--secret-key", default="")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--expect", type=int, default=1)
    parser.add_argument("--tag", default="")
    parser.add_argument("--keys-prefix", default="key")
    parser.add_argument("--body-prefix", default="body")
    parser.add_argument("--property", action="append", default=[])
    parser.add_argument("--message-group", default="")
    parser.add_argument("--groups", type=int, default=1)
    parser.add_argument("--delay-seconds", type=int, default=0)
    parser.add_argument("--recall-even", action="store_true")
    parser.add_argument("--resolution", default="commit")
    parser.add_argument("--check", default="commit")
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--expression", default="*")
    parser.add_argument("--sql", action="store_true")
    parser.add_argument("--invisible", type=int, default=15)
    parser.add_argument("--await-seconds", type=int, default=5)
    parser.add_argument("--no-ack-first", type=int, default=0)
    parser.add_argument("--never-ack", action="store_true")
    parser.add_argument("--change-invisible", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--linger", type=float, default=0.0)
    args = parser.parse_args()
    {"produce": produce, "transaction": transaction, "simple": simple, "push": push}[args.command](
        args
    )


if __name__ == "__main__":
    main()
