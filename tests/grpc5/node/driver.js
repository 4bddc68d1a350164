// Drives the official RocketMQ 5.x Node.js client (npm rocketmq-client-nodejs) for the
// tests in tests/grpc5: one JSON object per line on stdout, a final {"done": ...}.
//   node driver.js produce  --endpoint E --topic T --count N [--tag T] [--message-group G] [--groups N]
//                           [--delay-ms D] [--recall-even 1]
//   node driver.js transaction --endpoint E --topic T --count N --resolution commit|rollback|none [--check commit|rollback] [--wait S]
//   node driver.js simple   --endpoint E --group G --topic T --expect N [--expression E] [--invisible-ms I] [--timeout S]
//   node driver.js push     --endpoint E --group G --topic T --expect N [--expression E] [--fail-first K] [--timeout S]
'use strict';
const {
  Producer, SimpleConsumer, PushConsumer, ConsumeResult, FilterExpression,
} = require('rocketmq-client-nodejs');

const silent = { info() {}, warn() {}, error() {}, debug() {} };

function parse(argv) {
  const args = { command: argv[0], count: 1, expect: 1, groups: 1, expression: '*', timeout: 30,
    invisibleMs: 15000, failFirst: 0, delayMs: 0, wait: 0, resolution: 'commit', check: 'commit',
    tag: '', messageGroup: '', bodyPrefix: 'body', keysPrefix: 'key' };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const value = argv[i + 1];
    args[key] = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  }
  return args;
}

function emit(record) {
  process.stdout.write(JSON.stringify(record) + '\n');
}

function view(message) {
  return {
    message_id: message.messageId,
    topic: message.topic,
    body: message.body.toString(),
    tag: message.tag,
    keys: [...message.keys].sort(),
    properties: Object.fromEntries(message.properties || []),
    attempt: message.deliveryAttempt,
    group: message.messageGroup,
    corrupted: Boolean(message.corrupted),
    delivery_timestamp: message.deliveryTimestamp ? message.deliveryTimestamp.getTime() : null,
    received_at: Date.now() / 1000,
  };
}

function options(args, extra) {
  return { endpoints: args.endpoint, namespace: '', requestTimeout: 5000, logger: silent, ...extra };
}

function message(args, i) {
  const m = {
    topic: args.topic,
    body: Buffer.from(`${args.bodyPrefix}-${i}`),
    keys: [`${args.keysPrefix}-${i}`],
    properties: new Map([[ 'seq', String(i) ]]),
  };
  if (args.tag) m.tag = args.tag;
  if (args.messageGroup) m.messageGroup = `${args.messageGroup}-${i % args.groups}`;
  if (args.delayMs) m.delay = args.delayMs;
  return m;
}

async function produce(args) {
  const producer = new Producer(options(args, { topics: [ args.topic ] }));
  await producer.startup();
  let failed = 0;
  try {
    for (let i = 0; i < args.count; i++) {
      const sentAt = Date.now() / 1000;
      try {
        const receipt = await producer.send(message(args, i));
        emit({ i, message_id: receipt.messageId, offset: Number(receipt.offset), sent_at: sentAt });
        if (args.recallEven && i % 2 === 0) {
          const recalled = await producer.recallMessage(args.topic, receipt.recallHandle);
          emit({ recalled: recalled.messageId });
        }
      } catch (err) {
        failed++;
        emit({ i, error: `${err.name}: ${err.message}` });
      }
    }
  } finally {
    await producer.shutdown();
  }
  emit({ done: args.count - failed, failed });
}

async function transaction(args) {
  const checked = [];
  const checker = {
    async check(messageView) {
      checked.push(messageView.messageId);
      emit({ checked: messageView.messageId, body: messageView.body.toString() });
      return args.check === 'commit' ? 1 : 2; // TransactionResolution COMMIT / ROLLBACK
    },
  };
  const producer = new Producer(options(args, { topics: [ args.topic ], checker }));
  await producer.startup();
  try {
    for (let i = 0; i < args.count; i++) {
      const tx = producer.beginTransaction();
      const receipt = await producer.send(message(args, i), tx);
      emit({ i, message_id: receipt.messageId });
      if (args.resolution === 'commit') await tx.commit();
      else if (args.resolution === 'rollback') await tx.rollback();
    }
    const deadline = Date.now() + args.wait * 1000;
    const want = args.resolution === 'none' ? args.count : 0;
    while (Date.now() < deadline && checked.length < want) await sleep(200);
  } finally {
    await producer.shutdown();
  }
  emit({ done: args.count, checked: checked.length });
}

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

async function simple(args) {
  const consumer = new SimpleConsumer(options(args, {
    consumerGroup: args.group,
    subscriptions: new Map([[ args.topic, new FilterExpression(String(args.expression)) ]]),
    awaitDuration: 5000,
  }));
  await consumer.startup();
  const acked = new Set(); // distinct: a message stored twice counts once
  const deadline = Date.now() + args.timeout * 1000;
  try {
    while (acked.size < args.expect && Date.now() < deadline) {
      const messages = await consumer.receive(16, args.invisibleMs);
      for (const m of messages) {
        await consumer.ack(m);
        emit({ ...view(m), acked: true });
        acked.add(m.messageId);
      }
    }
  } finally {
    await consumer.shutdown();
  }
  emit({ done: acked.size });
}

async function push(args) {
  const failures = new Map();
  const acked = new Set();
  const consumer = new PushConsumer(options(args, {
    consumerGroup: args.group,
    subscriptions: new Map([[ args.topic, new FilterExpression(String(args.expression)) ]]),
    messageListener: {
      async consume(m) {
        const record = view(m);
        const failed = failures.get(m.messageId) || 0;
        if (failed < args.failFirst) {
          failures.set(m.messageId, failed + 1);
          emit({ ...record, result: 'FAILURE' });
          return ConsumeResult.FAILURE;
        }
        acked.add(m.messageId);
        emit({ ...record, result: 'SUCCESS' });
        return ConsumeResult.SUCCESS;
      },
    },
  }));
  await consumer.startup();
  emit({ started: true });
  const deadline = Date.now() + args.timeout * 1000;
  try {
    while (acked.size < args.expect && Date.now() < deadline) await sleep(200);
  } finally {
    await consumer.shutdown();
  }
  emit({ done: acked.size });
}

const commands = { produce, transaction, simple, push };
const args = parse(process.argv.slice(2));
commands[args.command](args).then(() => process.exit(0), err => {
  process.stderr.write(`${err && err.stack || err}\n`);
  process.exit(1);
});
