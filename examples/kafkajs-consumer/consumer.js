#!/usr/bin/env node
// A poolbench foreign consumer on kafkajs: EmailEvent JSON from a topic, in a consumer
// group, sent over SMTP with nodemailer by a few concurrent senders; a batch's offsets
// are committed only after its emails are sent.
//
// kafkajs is a pure-JavaScript Kafka client: it decodes gzip itself, but snappy, LZ4 and
// zstd need a codec the application registers. This consumer registers none, as most
// kafkajs users do, so LZ4-compressed input stops it with a loud error (exit 3).
'use strict';

const { parseArgs } = require('node:util');
const { Kafka, logLevel } = require('kafkajs');
const nodemailer = require('nodemailer');

// Kafka headers stamped by poolbench's load generator, and the email headers its sink
// reads (poolbench/wire.py).
const HEADER_ID = 'poolbench-id';
const HEADER_INTENDED_NS = 'poolbench-intended-ns';
const EMAIL_HEADER_ID = 'X-Poolbench-Id';
const EMAIL_HEADER_INTENDED_NS = 'X-Poolbench-Intended-Ns';
const EMAIL_HEADER_STARTED_NS = 'X-Poolbench-Started-Ns';
const SEND_ATTEMPTS = 3;

const env = process.env;
const { values: opts } = parseArgs({
  options: {
    brokers: { type: 'string', default: env.KAFKA_BROKERS || 'localhost:9093' },
    topic: { type: 'string', default: env.KAFKA_TOPIC || 'email-queue' },
    group: { type: 'string', default: env.KAFKA_GROUP_ID || 'messaging-service-group' },
    'smtp-host': { type: 'string', default: env.SMTP_HOST || 'localhost' },
    'smtp-port': { type: 'string', default: env.SMTP_PORT || '2525' },
    concurrency: { type: 'string', default: env.EMAIL_WORKER_COUNT || '4' },
  },
});
const concurrency = Number.parseInt(opts.concurrency, 10);
const smtpPort = Number.parseInt(opts['smtp-port'], 10);
if (!(concurrency >= 1) || !(smtpPort > 0)) {
  console.error(`--concurrency must be >= 1 and --smtp-port > 0, got ${opts.concurrency}, ${opts['smtp-port']}`);
  process.exit(2);
}

// CLOCK_MONOTONIC nanoseconds (libuv's hrtime on Linux): the clock poolbench's load
// generator and sink stamp with. Not Date.now(): wall time, moved by a clock step.
const nowNs = () => process.hrtime.bigint().toString();

const log = (text) => console.log(`[kafkajs-consumer] ${new Date().toISOString()} ${text}`);

const transport = nodemailer.createTransport({
  host: opts['smtp-host'],
  port: smtpPort,
  secure: false,
  pool: true,
  maxConnections: concurrency,
  connectionTimeout: 10_000,
  socketTimeout: 10_000,
});

function header(message, key) {
  const value = message.headers && message.headers[key];
  if (value == null) return undefined;
  return Buffer.isBuffer(value) ? value.toString() : String(value);
}

function render(event) {
  const m = event.message;
  const data = m.data || {};
  const lines = Object.keys(data).sort().filter((k) => k !== 'name').map((k) => `${k}: ${data[k]}`);
  const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const subject = m.subject || String(event.type || 'message').replace(/_/g, ' ');
  const name = data.name || 'there';
  return {
    subject,
    text: `${subject}\n\nHello ${name},\n${lines.join('\n')}\n\nMessage id: ${m.id}\n`,
    html: `<h1>${escape(subject)}</h1><p>Hello ${escape(name)},</p>` +
      `<p>${lines.map(escape).join('<br>')}</p><p>Message id: ${escape(m.id)}</p>`,
  };
}

async function send(message) {
  let event;
  try {
    event = JSON.parse(message.value.toString());
  } catch (err) {
    log(`skipping a malformed event at offset ${message.offset}: ${err.message}`);
    return;
  }
  const m = event && event.message;
  if (!m || !m.id || !m.from || !m.to) {
    log(`skipping an event without id, from or to at offset ${message.offset}`);
    return;
  }
  const headers = { [EMAIL_HEADER_STARTED_NS]: nowNs() };
  const id = header(message, HEADER_ID);
  const intended = header(message, HEADER_INTENDED_NS);
  if (id) headers[EMAIL_HEADER_ID] = id;
  if (intended) headers[EMAIL_HEADER_INTENDED_NS] = intended;
  const body = render(event);
  for (let attempt = 1; ; attempt++) {
    try {
      await transport.sendMail({ from: m.from, to: m.to, ...body, headers });
      return;
    } catch (err) {
      // 5xx is final; 4xx and connection errors are worth another try.
      const permanent = err.responseCode >= 500;
      if (permanent || attempt >= SEND_ATTEMPTS) {
        log(`send failed for ${m.id}: ${err.message}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

const kafka = new Kafka({
  clientId: 'kafkajs-consumer',
  brokers: opts.brokers.split(','),
  logLevel: logLevel.WARN,
});

let fatal = null;
const consumer = kafka.consumer({
  groupId: opts.group,
  sessionTimeout: 6000,
  heartbeatInterval: 1000,
  maxWaitTimeInMs: 100,
  // Nothing here reads transactions; read_committed would also trust the broker's last
  // stable offset, which the embedded (librdkafka mock) broker does not advance.
  readUncommitted: true,
  // A missing compression codec will not go away by restarting: stop instead of
  // looping on the same batch.
  retry: {
    retries: 5,
    restartOnFailure: async (err) => {
      fatal = err;
      return !(err && err.name === 'KafkaJSNotImplemented');
    },
  },
});

consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
  log(`consumer ready: member ${payload.memberId}, partitions ${JSON.stringify(payload.memberAssignment)}`);
});
consumer.on(consumer.events.CRASH, async ({ payload }) => {
  if (payload.restart) return;
  const err = payload.error || fatal;
  const hint = err && err.name === 'KafkaJSNotImplemented'
    ? ' (kafkajs has no built-in codec for this compression; produce with compression.type none or gzip)'
    : '';
  console.error(`[kafkajs-consumer] FATAL: ${err ? err.message : 'consumer crashed'}${hint}`);
  await shutdown(3);
});

async function eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }) {
  const messages = batch.messages;
  if (messages.length === 0) return;
  let next = 0;
  const sender = async () => {
    while (next < messages.length && isRunning() && !isStale()) {
      const message = messages[next++];
      await send(message);
      // A long batch must not outlast the session; kafkajs sends at most one heartbeat
      // per heartbeatInterval however often this is called.
      await heartbeat();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, sender));
  if (!isRunning() || isStale() || next < messages.length) return; // not all sent: redelivered
  // Every email of the batch is sent (or given up on): only now move past it (resolve:
  // kafkajs's fetch position) and commit.
  const last = messages[messages.length - 1].offset;
  resolveOffset(last);
  const offset = (BigInt(last) + 1n).toString();
  await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset }]);
  await heartbeat();
}

let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  try {
    await consumer.disconnect();
  } finally {
    transport.close();
    process.exit(code);
  }
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

(async () => {
  await consumer.connect();
  await consumer.subscribe({ topics: [opts.topic], fromBeginning: true });
  log(`consuming ${opts.topic} as group ${opts.group} with ${concurrency} concurrent senders`);
  await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch });
})().catch(async (err) => {
  console.error(`[kafkajs-consumer] FATAL: ${err.message}`);
  await shutdown(2);
});
