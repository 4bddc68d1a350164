#!/usr/bin/env python3
"""Drive the official RocketMQ C++ client (PyPI ``rocketmq==0.4.4``) from the command line.

Run it with the interpreter of the isolated venv built by ``scripts/cpp_client_env.sh``;
it must never import orbitmq (it is the *foreign* client under test).

Subcommands (see ``--help`` of each):

  info      print the client package/library in use as one JSON line
  produce   send N messages, one JSON line per message: {"i", "msg_id", "offset", "status", ...}
  consume   PushConsumer: one JSON line per delivery until N distinct messages or timeout
  pull      PullConsumer: one JSON line per message until every queue answers "no new message"

stdout carries JSON lines only (flushed per line); diagnostics go to stderr, including
one ``{"event": "started", ...}`` line once the client has started.
The library logs to ``$HOME/logs/rocketmq-cpp/<pid>_rocketmq-cpp.log.*``: run it with a
private HOME.

Exit codes: 0 ok; 1 client error (exception from the library, e.g. send failed);
2 consume: fewer than --expect distinct messages / pull: topic has no queues, or usage
error; 3 watchdog: the client hung past the deadline; 4 the rocketmq package is unusable.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import threading
import time

faulthandler.enable()  # a SIGSEGV inside librocketmq then leaves a traceback on stderr

EXIT_OK, EXIT_ERROR, EXIT_MISSING, EXIT_HUNG, EXIT_ENV = 0, 1, 2, 3, 4

# Properties reported for received messages (when non-empty), plus any --show-property.
DEFAULT_SHOW_PROPERTIES = (
    "orbit_seq",
    "UNIQ_KEY",
    "WAIT",
    "DELAY",
    "RETRY_TOPIC",
    "ORIGIN_MESSAGE_ID",
    "REAL_TOPIC",
    "REAL_QID",
    "MAX_OFFSET",
    "MIN_OFFSET",
)

_out_lock = threading.Lock()


def emit(obj: dict) -> None:
    line = json.dumps(obj, ensure_ascii=False)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def note(msg: str, **fields) -> None:
    """Diagnostic on stderr (JSON when fields are given)."""
    if fields:
        msg = json.dumps({"event": msg, **fields}, ensure_ascii=False)
    with _out_lock:
        sys.stderr.write(f"cpp_driver[{os.getpid()}]: {msg}\n")
        sys.stderr.flush()


def fail(code: int, msg: str):
    note(f"ERROR: {msg}")
    log_dir = os.path.join(os.path.expanduser("~"), "logs", "rocketmq-cpp")
    note(f"see the client log: {log_dir}/{os.getpid()}_rocketmq-cpp.log.*")
    sys.stdout.flush()
    sys.stderr.flush()
    raise SystemExit(code)


def start_watchdog(seconds: float, what: str) -> threading.Timer:
    """Hard-exit (code 3) if the library blocks for longer than ``seconds``."""

    def fire() -> None:
        note(f"ERROR: watchdog: {what} still running after {seconds:.0f}s; aborting")
        log_dir = os.path.join(os.path.expanduser("~"), "logs", "rocketmq-cpp")
        note(f"see the client log: {log_dir}/{os.getpid()}_rocketmq-cpp.log.*")
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(EXIT_HUNG)

    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t


def import_client():
    try:
        import rocketmq.client as client
        import rocketmq.ffi as ffi
    except Exception as e:  # ImportError, OSError from ctypes, ...
        fail(EXIT_ENV, f"cannot import rocketmq.client (the 0.4.4 C++ wrapper): {e!r}")
    if not hasattr(client, "PullConsumer") or not hasattr(ffi, "dll"):
        fail(EXIT_ENV, f"{client.__file__} is not the rocketmq 0.4.4 ctypes client")
    return client, ffi


def _s(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return str(v)


def message_record(msg, show_properties) -> dict:
    """JSON-able view of a rocketmq.client.RecvMessage."""
    body = msg.body  # c_char_p: bytes up to the first NUL
    rec = {
        "body": _s(body),
        "body_len": len(body) if body is not None else None,
        "tags": _s(msg.tags),
        "keys": _s(msg.keys),
        "topic": msg.topic,
        "msg_id": msg.id,
        "queue_id": msg.queue_id,
        "queue_offset": msg.queue_offset,
        "reconsume_times": msg.reconsume_times,
        "commit_log_offset": msg.commit_log_offset,
        "store_size": msg.store_size,
        "born_timestamp": msg.born_timestamp,
        "store_timestamp": msg.store_timestamp,
        "delay_time_level": msg.delay_time_level,
        "received_ms": int(time.time() * 1000),  # local clock, when the record was made
    }
    props = {}
    for key in show_properties:
        val = _s(msg.get_property(key))
        if val:
            props[key] = val
    rec["properties"] = props
    return rec


def parse_kv(items) -> list[tuple[str, str]]:
    out = []
    for item in items or ():
        if "=" not in item:
            raise SystemExit(f"--property expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out.append((k, v))
    return out


# --------------------------------------------------------------------------- info


def cmd_info(args) -> int:
    client, ffi = import_client()
    try:
        from importlib.metadata import version

        ver = version("rocketmq")
    except Exception:
        ver = None
    emit(
        {
            "rocketmq_version": ver,
            "client_file": client.__file__,
            "library": getattr(ffi, "_DYLIB_PATH", None),
            "python": sys.executable,
            "python_version": sys.version.split()[0],
        }
    )
    return EXIT_OK


# --------------------------------------------------------------------------- produce


def cmd_produce(args) -> int:
    client, _ffi = import_client()
    props = parse_kv(args.property)
    tags = args.tag or ["TagA"]
    watchdog = start_watchdog(args.timeout, "produce")

    producer = client.Producer(
        args.group,
        timeout=args.send_timeout_ms,
        compress_level=args.compress_level,
        max_message_size=args.max_message_size,
    )
    producer.set_namesrv_addr(args.namesrv)
    if args.access_key:
        producer.set_session_credentials(args.access_key, args.secret_key, args.channel)
    producer.start()
    note("started", role="producer", group=args.group, namesrv=args.namesrv)
    if args.start_delay_ms > 0:
        time.sleep(args.start_delay_ms / 1000)

    def build(i: int):
        tag = tags[i % len(tags)]
        keys = f"{args.keys_prefix}-{i}"
        body = f"{args.body_prefix}-{i}"
        if args.size is not None:
            if args.size < len(body.encode()):
                raise SystemExit(f"--size {args.size} is smaller than body {body!r}")
            body = body + "x" * (args.size - len(body.encode()))
        msg = client.Message(args.topic)
        msg.set_keys(keys)
        msg.set_tags(tag)
        msg.set_body(body)  # c_char_p: no NUL bytes possible
        msg.set_property("orbit_seq", str(i))
        for k, v in props:
            msg.set_property(k, v)
        if args.delay_level:
            msg.set_delay_time_level(args.delay_level)
        return msg, {"i": i, "keys": keys, "tags": tag}

    def result_record(base: dict, res) -> dict:
        return {
            **base,
            "msg_id": res.msg_id,
            "offset": res.offset,
            "status": int(res.status),
            "status_name": res.status.name,
        }

    failed_sends: list[int] = []

    def send_paced(msg, base: dict) -> None:
        """Sync send at --interval-ms pace, timed; with --keep-going a send that fails
        after the library's own retries is reported (status null) and the run goes on."""
        t0 = time.monotonic()
        try:
            res = producer.send_sync(msg)
        except Exception as e:
            if not args.keep_going:
                raise
            failed_sends.append(base["i"])
            rec = {**base, "msg_id": None, "offset": None, "status": None}
            rec["status_name"] = "EXCEPTION"
            rec["error"] = f"{type(e).__name__}: {e}"
        else:
            rec = result_record(base, res)
        rec["t_ms"] = int(time.time() * 1000)
        rec["send_ms"] = round((time.monotonic() - t0) * 1000, 1)
        emit(rec)
        if rec["status"] not in (0, None) and not args.allow_not_ok:
            raise RuntimeError(f"message {base['i']}: send status {rec['status_name']}")
        pause = args.interval_ms / 1000 - (time.monotonic() - t0)
        if pause > 0:
            time.sleep(pause)

    code = EXIT_OK
    try:
        if args.mode == "batch":
            size = args.batch_size or args.count
            for start in range(0, args.count, size):
                built = [build(i) for i in range(start, min(start + size, args.count))]
                res = producer.send_batch([m for m, _ in built])
                for _m, base in built:
                    emit({**result_record(base, res), "batch_start": start})
        elif args.mode == "async":
            done = threading.Semaphore(0)
            errors: list[str] = []
            pending = []
            for i in range(args.count):
                msg, base = build(i)

                def ok(res, base=base):
                    emit(result_record(base, res))
                    done.release()

                def bad(exc, base=base):
                    errors.append(f"message {base['i']}: {exc}")
                    done.release()

                pending.append(msg)  # keep the C message alive until the callback ran
                producer.send_async(msg, ok, bad)
            for _ in range(args.count):
                done.acquire()
            if errors:
                raise RuntimeError("async send failed: " + "; ".join(errors))
        else:
            for i in range(args.count):
                if args.stop_file and os.path.exists(args.stop_file):
                    note("stop_file", sent=i)
                    break
                msg, base = build(i)
                if args.mode == "sync" and (args.keep_going or args.interval_ms):
                    send_paced(msg, base)
                    continue
                if args.mode == "sync":
                    res = producer.send_sync(msg)
                elif args.mode == "orderly":
                    # hashing_queue_selector: queue = arg % number_of_write_queues
                    res = producer.send_orderly(msg, args.queue, retry_times=args.retry_times)
                elif args.mode == "oneway":
                    producer.send_oneway(msg)
                    emit({**base, "msg_id": None, "offset": None, "status": None})
                    continue
                else:
                    raise AssertionError(args.mode)
                rec = result_record(base, res)
                emit(rec)
                if rec["status"] != 0 and not args.allow_not_ok:
                    raise RuntimeError(f"message {i}: send status {rec['status_name']}")
    except Exception as e:  # rocketmq.exceptions.ProducerSendSyncFailed & co
        code = EXIT_ERROR
        note(f"ERROR: send failed: {type(e).__name__}: {e}")
    if failed_sends:
        code = EXIT_ERROR
        note(f"ERROR: {len(failed_sends)} sends failed (--keep-going), e.g. {failed_sends[:10]}")

    producer.shutdown()
    watchdog.cancel()
    if code:
        fail(code, f"produce to topic {args.topic!r} via {args.namesrv} failed")
    return code


# --------------------------------------------------------------------------- consume


def cmd_consume(args) -> int:
    client, ffi = import_client()
    show = list(dict.fromkeys([*DEFAULT_SHOW_PROPERTIES, *(args.show_property or ())]))
    model = ffi.MessageModel.BROADCASTING if args.broadcast else ffi.MessageModel.CLUSTERING
    consumer = client.PushConsumer(args.group, orderly=args.orderly, message_model=model)
    consumer.set_namesrv_addr(args.namesrv)
    if args.threads:
        consumer.set_thread_count(args.threads)
    if args.batch_max_size:
        consumer.set_message_batch_max_size(args.batch_max_size)
    if args.access_key:
        consumer.set_session_credentials(args.access_key, args.secret_key, args.channel)

    lock = threading.Lock()
    accepted: set[str] = set()
    rejections: dict[str, int] = {}
    enough = threading.Event()
    deliveries = [0]

    def handle(msg) -> bool:
        """Record one delivery; return True to ack (CONSUME_SUCCESS)."""
        if args.sleep_ms > 0:
            time.sleep(args.sleep_ms / 1000)
        rec = message_record(msg, show)
        ident = rec["msg_id"] or f"{rec['topic']}:{rec['queue_id']}:{rec['queue_offset']}"
        with lock:
            deliveries[0] += 1
            ack = rejections.get(ident, 0) >= args.fail_times
            if not ack:
                rejections[ident] = rejections.get(ident, 0) + 1
            rec["result"] = "CONSUME_SUCCESS" if ack else "RECONSUME_LATER"
            emit(rec)
            if ack and (rec["body"] or "").startswith(args.expect_prefix):
                accepted.add(ident)
                if 0 < args.expect <= len(accepted):
                    enough.set()
        return ack

    if args.fail_times > 0:
        # Deterministic RECONSUME_LATER: a Python exception in the subscribe() callback
        # leaves the ctypes return value undefined, so register a raw callback that
        # returns the C ConsumeStatus itself (same C entry points as subscribe()).
        status = ffi._CConsumeStatus

        def raw(_consumer, cmsg):
            try:
                ok = handle(client.RecvMessage(cmsg))
            except Exception as e:  # never let an exception cross into C
                note(f"ERROR: callback: {e!r}")
                ok = False
            return status.CONSUME_SUCCESS.value if ok else status.RECONSUME_LATER.value

        ffi.dll.Subscribe(consumer._handle, args.topic.encode(), args.expression.encode())
        consumer._register_callback(raw)
    else:

        def on_message(msg):
            handle(msg)

        consumer.subscribe(args.topic, on_message, args.expression)

    deadline_total = args.timeout + args.linger + args.shutdown_timeout + 15
    watchdog = start_watchdog(deadline_total, "consume")
    t0 = time.monotonic()
    consumer.start()
    note(
        "started",
        role="push_consumer",
        group=args.group,
        topic=args.topic,
        expression=args.expression,
        model=model.name,
        orderly=args.orderly,
        namesrv=args.namesrv,
    )
    if args.stop_file:
        # Poll, so that the test decides when the consumer has seen enough.
        until = time.monotonic() + args.timeout
        while not enough.wait(0.1) and time.monotonic() < until:
            if os.path.exists(args.stop_file):
                note("stop_file", distinct=len(accepted))
                break
    else:
        enough.wait(args.timeout)
    if args.linger > 0:
        time.sleep(args.linger)
    elapsed = time.monotonic() - t0
    shut = start_watchdog(args.shutdown_timeout, "PushConsumer.shutdown()")
    t1 = time.monotonic()
    consumer.shutdown()
    shutdown_seconds = time.monotonic() - t1
    shut.cancel()
    watchdog.cancel()
    with lock:
        n = len(accepted)
        total = deliveries[0]
    note(
        "finished",
        distinct=n,
        deliveries=total,
        expect=args.expect,
        seconds=round(elapsed, 3),
        shutdown_seconds=round(shutdown_seconds, 3),
    )
    if n < args.expect:
        fail(
            EXIT_MISSING,
            f"received {n} of {args.expect} distinct messages from {args.topic!r} "
            f"(group {args.group}) within {args.timeout}s",
        )
    return EXIT_OK


# --------------------------------------------------------------------------- pull


def cmd_pull(args) -> int:
    client, ffi = import_client()
    import ctypes

    show = list(dict.fromkeys([*DEFAULT_SHOW_PROPERTIES, *(args.show_property or ())]))
    dll = ffi.dll
    status = ffi._CPullStatus
    watchdog = start_watchdog(args.timeout + 15, "pull")
    deadline = time.monotonic() + args.timeout

    consumer = client.PullConsumer(args.group)
    consumer.set_namesrv_addr(args.namesrv)
    if args.access_key:
        consumer.set_session_credentials(args.access_key, args.secret_key, args.channel)
    consumer.start()
    note("started", role="pull_consumer", group=args.group, topic=args.topic, namesrv=args.namesrv)

    # Same C calls as rocketmq.client.PullConsumer.pull(), but bounded by a deadline:
    # the wrapper's own loop retries a BROKER_TIMEOUT forever and hides "no queues".
    mqs = ctypes.POINTER(ffi._CMessageQueue)()
    size = ctypes.c_int()
    code = EXIT_OK
    summary = []
    try:
        client_ffi_check = sys.modules["rocketmq.exceptions"].ffi_check
        client_ffi_check(
            dll.FetchSubscriptionMessageQueues(
                consumer._handle, args.topic.encode(), ctypes.pointer(mqs), ctypes.pointer(size)
            )
        )
        nqueues = int(size.value)
        if nqueues == 0:
            code = EXIT_MISSING
            note(f"ERROR: no message queues for topic {args.topic!r} (route lookup failed?)")
        for qi in range(nqueues):
            mq = mqs[qi]
            offset = args.start_offset
            found = 0
            timeouts = 0
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"queue {mq.queueId}: still pulling at offset {offset} "
                        f"after {args.timeout}s"
                    )
                res = dll.Pull(
                    consumer._handle,
                    ctypes.pointer(mq),
                    args.expression.encode(),
                    ctypes.c_longlong(offset),
                    args.max_num,
                )
                try:
                    st = res.pullStatus
                    if st == status.BROKER_TIMEOUT:
                        timeouts += 1
                        note("pull_broker_timeout", queue_id=mq.queueId, offset=offset)
                        time.sleep(min(0.2 * timeouts, 2.0))
                        continue
                    if st == status.FOUND:
                        for k in range(int(res.size)):
                            rec = message_record(client.RecvMessage(res.msgFoundList[k]), show)
                            emit(rec)
                            found += 1
                    next_offset = res.nextBeginOffset
                    summary.append(
                        {
                            "queue_id": mq.queueId,
                            "status": status(st).name,
                            "offset": offset,
                            "next": next_offset,
                            "min": res.minOffset,
                            "max": res.maxOffset,
                        }
                    )
                finally:
                    dll.ReleasePullResult(res)
                if st == status.NO_NEW_MSG:
                    break
                if next_offset == offset and st != status.FOUND:
                    # OFFSET_ILLEGAL / NO_MATCHED_MSG that does not advance: avoid spinning.
                    note("pull_not_advancing", queue_id=mq.queueId, status=status(st).name)
                    break
                offset = next_offset
            note(
                "queue_done",
                queue_id=mq.queueId,
                messages=found,
                next_offset=offset,
                broker=mq.brokerName.decode(errors="replace"),
            )
    except Exception as e:
        code = EXIT_ERROR
        note(f"ERROR: pull failed: {type(e).__name__}: {e}")
    finally:
        if mqs:
            dll.ReleaseSubscriptionMessageQueue(mqs)
    consumer.shutdown()
    watchdog.cancel()
    if args.verbose:
        note("pull_summary", pulls=summary)
    if code:
        fail(code, f"pull from topic {args.topic!r} via {args.namesrv} failed")
    return EXIT_OK


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, group_default):
        sp.add_argument("--namesrv", required=True, help="name server(s) host:port[;host:port]")
        sp.add_argument("--topic", required=True)
        sp.add_argument("--group", default=group_default)
        sp.add_argument("--access-key", default="", help="ACL: set session credentials")
        sp.add_argument("--secret-key", default="")
        sp.add_argument("--channel", default="ALIYUN", help="OnsChannel sent with credentials")

    sp = sub.add_parser("info", help="print the client in use")
    sp.set_defaults(func=cmd_info)

    sp = sub.add_parser("produce", help="send messages with rocketmq.client.Producer")
    common(sp, "PID_ORBIT_CPP")
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument(
        "--tag", action="append", help="tag; repeat to cycle tags over messages (default TagA)"
    )
    sp.add_argument("--keys-prefix", default="key", help="message i gets keys KEYS_PREFIX-i")
    sp.add_argument("--body-prefix", default="body", help="message i gets body BODY_PREFIX-i")
    sp.add_argument(
        "--size",
        type=int,
        help="pad each body with 'x' to this many bytes "
        "(>= 4096 makes the client zlib-compress it)",
    )
    sp.add_argument(
        "--property",
        action="append",
        metavar="KEY=VALUE",
        help="extra user property (orbit_seq=i is always set)",
    )
    sp.add_argument("--delay-level", type=int, default=0)
    sp.add_argument(
        "--mode", choices=["sync", "async", "oneway", "orderly", "batch"], default="sync"
    )
    sp.add_argument(
        "--queue", type=int, default=0, help="orderly: selector arg (queue = arg %% writeQueueNums)"
    )
    sp.add_argument("--retry-times", type=int, default=3, help="orderly: retries")
    sp.add_argument(
        "--batch-size", type=int, default=0, help="batch: messages per batch (default: all in one)"
    )
    sp.add_argument(
        "--send-timeout-ms", type=int, default=None, help="Producer timeout (library default 3000)"
    )
    sp.add_argument("--compress-level", type=int, default=None)
    sp.add_argument("--max-message-size", type=int, default=None, help="library default 131072")
    sp.add_argument(
        "--allow-not-ok", action="store_true", help="do not fail on a non-SEND_OK status"
    )
    sp.add_argument(
        "--interval-ms",
        type=float,
        default=0.0,
        help="sync: start a send at most every this many ms (records get t_ms and send_ms)",
    )
    sp.add_argument(
        "--start-delay-ms",
        type=float,
        default=0.0,
        help="wait this long after start() before the first send (librocketmq 1.2.x sends "
        "its first heartbeat 10 ms after start(): while that thread connects to the brokers, "
        "a send whose transport lock try fails gives up all its retries in a millisecond)",
    )
    sp.add_argument(
        "--keep-going",
        action="store_true",
        help="sync: report a send that raised (status null, 'error') and go on; exit 1 at the end",
    )
    sp.add_argument(
        "--timeout", type=float, default=120.0, help="watchdog for the whole run, seconds (exit 3)"
    )
    sp.add_argument(
        "--stop-file",
        default="",
        help="sync/orderly/oneway: send no further message once this file exists (the run "
        "then ends as if --count had been reached)",
    )
    sp.set_defaults(func=cmd_produce)

    sp = sub.add_parser("consume", help="receive messages with rocketmq.client.PushConsumer")
    common(sp, "GID_ORBIT_CPP")
    sp.add_argument("--expression", default="*", help="tag expression, e.g. 'TagA || TagB'")
    sp.add_argument(
        "--expect",
        type=int,
        required=True,
        help="stop after this many distinct acked messages (0: listen --timeout)",
    )
    sp.add_argument(
        "--expect-prefix",
        default="",
        help="only acked messages whose body starts with this count toward --expect "
        "(others, e.g. warm-up probes, are still acked and printed)",
    )
    sp.add_argument("--timeout", type=float, required=True, help="seconds to wait for them")
    sp.add_argument(
        "--linger",
        type=float,
        default=0.0,
        help="keep consuming this long after --expect is reached (catch extras)",
    )
    sp.add_argument("--broadcast", action="store_true", help="BROADCASTING message model")
    sp.add_argument("--orderly", action="store_true", help="orderly listener (queue locks)")
    sp.add_argument("--threads", type=int, default=0, help="consume thread count")
    sp.add_argument("--batch-max-size", type=int, default=0)
    sp.add_argument(
        "--sleep-ms",
        type=float,
        default=0.0,
        help="spend this long in the listener per message (a slow consumer)",
    )
    sp.add_argument(
        "--fail-times",
        type=int,
        default=0,
        help="answer RECONSUME_LATER to the first N deliveries of each message "
        "(the C wrapper then also sends back every other message of that pull batch, "
        "including ones already printed as CONSUME_SUCCESS)",
    )
    sp.add_argument(
        "--show-property", action="append", metavar="KEY", help="also report this message property"
    )
    sp.add_argument("--shutdown-timeout", type=float, default=30.0)
    sp.add_argument(
        "--stop-file",
        default="",
        help="stop waiting (then --linger and shut down) once this file exists, as if "
        "--expect had been reached; the exit code still depends on --expect",
    )
    sp.set_defaults(func=cmd_consume)

    sp = sub.add_parser("pull", help="read all queues with rocketmq.client.PullConsumer")
    common(sp, "GID_ORBIT_CPP_PULL")
    sp.add_argument("--expression", default="*")
    sp.add_argument("--max-num", type=int, default=32)
    sp.add_argument("--start-offset", type=int, default=0)
    sp.add_argument("--show-property", action="append", metavar="KEY")
    sp.add_argument("--timeout", type=float, default=60.0)
    sp.add_argument("--verbose", action="store_true", help="log every pull result on stderr")
    sp.set_defaults(func=cmd_pull)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if "orbitmq" in sys.modules:  # pragma: no cover - guard against misuse
        fail(EXIT_ENV, "cpp_driver must not import orbitmq")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
