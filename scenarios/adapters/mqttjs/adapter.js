#!/usr/bin/env node
// MQTT.js behind the JSON line protocol of scenarios/CLIENTS.md.
//
// stdin: a `connect` line, then operation lines; stdout: event lines, one JSON object each.
// The `mqtt` package comes from node_modules/ beside this file (`npm ci` here, which installs
// the version package-lock.json pins). Options are MQTT.js's defaults except what the runner
// asks for (version, client id, keep alive, clean start, session expiry, reconnection).
'use strict'

const readline = require('readline')

let mqtt
try {
  mqtt = require('mqtt')
} catch (e) {
  console.error(`cannot load MQTT.js (${e.message.split('\n')[0]}): run \`npm ci\` in ${__dirname}`)
  process.exit(2)
}

if (process.argv[2] === '--version') {
  console.log(`MQTT.js (mqtt) version ${require('mqtt/package.json').version}`)
  process.exit(0)
}

function emit (event) {
  process.stdout.write(JSON.stringify(event) + '\n')
}

function log (text) {
  process.stderr.write(text + '\n')
}

// A SUBACK/UNSUBACK/PUBACK reason code of 0x80 or more is a failure.
function failed (code) {
  return typeof code === 'number' && code >= 0x80
}

let client = null
let connectedOnce = false
let disconnecting = false
let reconnect = false
// Operations asked for before the first CONNACK: performed once connected, in order.
const queued = []

function done (op, err, codes) {
  if (err) {
    emit({ event: 'done', op, ok: false, error: String(err.message || err) })
  } else if ((codes || []).some(failed)) {
    emit({ event: 'done', op, ok: false, error: `reason code(s) ${codes.join(', ')}` })
  } else {
    emit({ event: 'done', op, ok: true })
  }
}

function perform (op) {
  try {
    switch (op.op) {
      case 'publish':
        client.publish(op.topic, Buffer.from(op.payload_hex, 'hex'), { qos: op.qos, retain: op.retain },
          (err, packet) => done('publish', err, packet && [packet.reasonCode]))
        break
      case 'subscribe':
        client.subscribe(op.filter, { qos: op.qos },
          (err, granted) => done('subscribe', err, (granted || []).map((g) => g.qos)))
        break
      case 'unsubscribe':
        client.unsubscribe(op.filter,
          (err, packet) => done('unsubscribe', err, packet && packet.reasonCode !== undefined ? [packet.reasonCode] : []))
        break
      case 'disconnect':
        disconnecting = true
        client.end(false, {}, () => {
          emit({ event: 'done', op: 'disconnect', ok: true })
          emit({ event: 'stopped', reason: 'disconnected on request' })
        })
        break
      default:
        log(`unknown operation: ${JSON.stringify(op)}`)
    }
  } catch (e) {
    // What MQTT.js refuses locally, it may throw.
    emit({ event: 'done', op: op.op, ok: false, error: `${e.name}: ${e.message}` })
  }
}

function start (c) {
  reconnect = Boolean(c.reconnect)
  const options = {
    host: c.host,
    port: c.port,
    protocol: 'mqtt',
    protocolVersion: c.version === '5.0' ? 5 : 4,
    clientId: c.client_id,
    keepalive: c.keep_alive,
    clean: Boolean(c.clean_start),
    // The scripted server waits a few seconds at most for a reconnection; 0 disables it.
    reconnectPeriod: reconnect ? 100 : 0
  }
  if (c.version === '5.0' && c.session_expiry !== null && c.session_expiry !== undefined) {
    options.properties = { sessionExpiryInterval: c.session_expiry }
  }
  client = mqtt.connect(options)
  client.on('connect', (connack) => {
    if (connectedOnce) {
      log(`reconnected (session present ${connack.sessionPresent})`)
      return
    }
    connectedOnce = true
    emit({ event: 'connected' })
    for (const op of queued.splice(0)) perform(op)
  })
  client.on('message', (topic, payload, packet) => {
    emit({
      event: 'message',
      topic,
      payload_hex: Buffer.from(payload).toString('hex'),
      qos: packet.qos,
      retain: Boolean(packet.retain)
    })
  })
  client.on('error', (e) => log(`error: ${e.message}`))
  client.on('disconnect', (packet) => log(`DISCONNECT from the server: reason code ${packet.reasonCode}`))
  client.on('offline', () => log('offline'))
  client.on('close', () => {
    log('connection closed')
    if (!reconnect && !disconnecting) {
      emit({ event: 'stopped', reason: 'connection closed' })
    }
  })
}

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  line = line.trim()
  if (!line) return
  let op
  try {
    op = JSON.parse(line)
  } catch (e) {
    log(`not an operation line: ${line}`)
    return
  }
  if (client === null) {
    if (op.op !== 'connect') {
      log(`the first line is not a connect line: ${line}`)
      process.exit(2)
    }
    start(op)
  } else if (!connectedOnce) {
    queued.push(op)
  } else {
    perform(op)
  }
})
// stdin closed: the session is over.
lines.on('close', () => process.exit(0))
