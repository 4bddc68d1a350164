"""gRPC load through the official RocketMQ 5.x Python client (PyPI
rocketmq-python-client); run by `orbitmq bench grpc` with that client's venv
(scripts/grpc5_clients_env.sh) as `python -I grpc5_load.py …`. It imports nothing from
orbitmq, and prints one JSON line: the messages, the seconds, and send round trips.

  produce   --threads threads, each calling Producer.send in a loop for --duration s
  consume   --threads threads sharing one SimpleConsumer: receive (up to 32) then ack
            each, until --count messages were acked or --duration s passed
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from rocketmq import (
    ClientConfiguration,
    Credentials,
    FilterExpression,
    Message,
    Producer,
    SimpleConsumer,
)


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def produce(args: argparse.Namespace, config: ClientConfiguration) -> dict:
    producer = Producer(config, (args.topic,))
    producer.startup()
    body = b"x" * args.size
    lock = threading.Lock()
    rts: list[float] = []
    failed = [0]
    deadline = time.monotonic() + args.duration

    def sender() -> None:
        mine: list[float] = []
        errors = 0
        while time.monotonic() < deadline:
            message = Message()
            message.topic = args.topic
            message.body = body
            started = time.perf_counter()
            try:
                producer.send(message)
            except Exception:
                errors += 1
                continue
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            rts.extend(mine)
            failed[0] += errors

    warm = Message()
    warm.topic, warm.body = args.topic, body
    producer.send(warm)  # route and channel before the clock starts
    started = time.monotonic()
    threads = [threading.Thread(target=sender) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    producer.shutdown()
    rts.sort()
    return {
        "messages": len(rts), "elapsed_s": round(elapsed, 3),
        "tps": round(len(rts) / elapsed, 1), "send_failed": failed[0],
        "avg_rt_ms": round(sum(rts) / len(rts), 3) if rts else 0.0,
        "p99_rt_ms": round(percentile(rts, 0.99), 3),
    }  # fmt: skip


def consume(args: argparse.Namespace, config: ClientConfiguration) -> dict:
    consumer = SimpleConsumer(
        config, args.group, {args.topic: FilterExpression()}, await_duration=5
    )
    consumer.startup()
    lock = threading.Lock()
    acked = [0]
    failed = [0]
    deadline = time.monotonic() + args.duration
    started = time.monotonic()
    finished = [started]

    def receiver() -> None:
        while time.monotonic() < deadline:
            with lock:
                if acked[0] >= args.count:
                    return
            try:
                messages = consumer.receive(32, 30)
            except Exception:
                with lock:
                    failed[0] += 1
                continue
            for message in messages:
                try:
                    consumer.ack(message)
                except Exception:
                    with lock:
                        failed[0] += 1
                    continue
                with lock:
                    acked[0] += 1
                    finished[0] = time.monotonic()

    threads = [threading.Thread(target=receiver) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    consumer.shutdown()
    elapsed = max(finished[0] - started, 1e-6)
    return {
        "messages": acked[0], "elapsed_s": round(elapsed, 3),
        "tps": round(acked[0] / elapsed, 1), "failed": failed[0],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["produce", "consume"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", default="benchmark_grpc_consumer")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--count", type=int, default=1 << 62)
    args = parser.parse_args()
    config = ClientConfiguration(args.endpoint, Credentials(), request_timeout=5)
    result = (produce if args.mode == "produce" else consume)(args, config)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
