#!/usr/bin/env python3
"""paho-mqtt for Python behind the JSON line protocol of scenarios/CLIENTS.md.

stdin: a `connect` line, then operation lines; stdout: event lines, one JSON object each.
The client runs paho's own threaded network loop (`loop_start`), as an application would;
operations come from the main thread. paho-mqtt is imported from `vendor/` beside this file
(`pip install --target vendor -r requirements.txt`, see ../../CLIENTS.md), else from the
interpreter's own packages.
"""

import json
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "vendor"))

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
except ImportError as e:
    print(
        f"cannot import paho-mqtt ({e}): run `python3 -m pip install --require-hashes --target "
        f"{os.path.join(HERE, 'vendor')} -r {os.path.join(HERE, 'requirements.txt')}`",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(2)

if len(sys.argv) > 1 and sys.argv[1] == "--version":
    import paho.mqtt

    print(f"paho-mqtt version {paho.mqtt.__version__}")
    sys.exit(0)

_out = threading.Lock()


def emit(**event):
    with _out:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def log(text):
    with _out:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


class Adapter:
    def __init__(self, c):
        self.v5 = c["version"] == "5.0"
        self.reconnect = bool(c.get("reconnect"))
        self.lock = threading.Lock()
        # Operations asked for before the first CONNACK: performed once connected, in order.
        self.queued = []
        self.connected_once = False
        self.disconnecting = False
        # paho may call back (PUBACK, SUBACK) before publish()/subscribe() has returned the
        # message id: a completion for an id not yet known waits in `early`.
        self.pending = {"publish": set(), "subscribe": set(), "unsubscribe": set()}
        self.early = {"publish": {}, "subscribe": {}, "unsubscribe": {}}
        kwargs = dict(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=c["client_id"],
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            reconnect_on_failure=self.reconnect,
        )
        if not self.v5:
            kwargs["clean_session"] = bool(c["clean_start"])
        self.client = mqtt.Client(**kwargs)
        # The scripted server waits a few seconds at most for a reconnection.
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
        self.client.on_log = lambda _c, _u, _level, buf: log(f"paho: {buf}")
        self.client.on_connect = self.on_connect
        self.client.on_connect_fail = lambda _c, _u: log("paho: connection failed")
        self.client.on_disconnect = self.on_disconnect
        self.client.on_publish = lambda _c, _u, mid, rc, _p: self.completed("publish", mid, [rc])
        self.client.on_subscribe = lambda _c, _u, mid, rcs, _p: self.completed("subscribe", mid, rcs)
        self.client.on_unsubscribe = lambda _c, _u, mid, rcs, _p: self.completed(
            "unsubscribe", mid, rcs
        )
        self.client.on_message = self.on_message
        connect_kwargs = {}
        if self.v5:
            connect_kwargs["clean_start"] = bool(c["clean_start"])
            if c.get("session_expiry") is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = int(c["session_expiry"])
                connect_kwargs["properties"] = props
        self.client.connect_async(c["host"], int(c["port"]), int(c["keep_alive"]), **connect_kwargs)
        self.client.loop_start()

    # Callbacks, on paho's network thread.

    def on_connect(self, _client, _userdata, _flags, reason, _props):
        if reason.is_failure:
            log(f"CONNACK refused: {reason}")
            return
        with self.lock:
            first = not self.connected_once
            self.connected_once = True
            queued, self.queued = self.queued, []
        if first:
            emit(event="connected")
        for op in queued:
            self.do(op)

    def on_disconnect(self, _client, _userdata, _flags, reason, _props):
        log(f"disconnected: {reason}")
        if self.disconnecting:
            emit(event="done", op="disconnect", ok=True)
            emit(event="stopped", reason="disconnected on request")
        elif not self.reconnect:
            emit(event="stopped", reason=f"connection lost: {reason}")

    def on_message(self, _client, _userdata, msg):
        emit(
            event="message",
            topic=msg.topic,
            payload_hex=bytes(msg.payload).hex(),
            qos=msg.qos,
            retain=bool(msg.retain),
        )

    def completed(self, op, mid, codes):
        with self.lock:
            if mid not in self.pending[op]:
                self.early[op][mid] = codes
                return
            self.pending[op].discard(mid)
        self.report(op, codes)

    def report(self, op, codes):
        failed = [str(rc) for rc in codes if getattr(rc, "is_failure", False)]
        if failed:
            emit(event="done", op=op, ok=False, error=", ".join(failed))
        else:
            emit(event="done", op=op, ok=True)

    # Operations, on the main thread (or paho's, for those queued before CONNACK).

    def perform(self, op):
        with self.lock:
            if not self.connected_once:
                self.queued.append(op)
                return
        self.do(op)

    def started(self, name, rc, mid):
        if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            emit(event="done", op=name, ok=False, error=mqtt.error_string(rc))
            return
        with self.lock:
            codes = self.early[name].pop(mid, None)
            if codes is None:
                self.pending[name].add(mid)
                return
        self.report(name, codes)

    def do(self, op):
        name = op["op"]
        try:
            if name == "publish":
                info = self.client.publish(
                    op["topic"], bytes.fromhex(op["payload_hex"]), int(op["qos"]), bool(op["retain"])
                )
                self.started(name, info.rc, info.mid)
            elif name == "subscribe":
                rc, mid = self.client.subscribe(op["filter"], int(op["qos"]))
                self.started(name, rc, mid)
            elif name == "unsubscribe":
                rc, mid = self.client.unsubscribe(op["filter"])
                self.started(name, rc, mid)
            elif name == "disconnect":
                self.disconnecting = True
                self.client.disconnect()
            else:
                log(f"unknown operation: {op}")
        except Exception as e:  # paho raises ValueError for what it refuses locally
            emit(event="done", op=name, ok=False, error=f"{type(e).__name__}: {e}")


def main():
    first = sys.stdin.readline()
    if not first:
        return
    c = json.loads(first)
    if c.get("op") != "connect":
        log(f"the first line is not a connect line: {first.strip()}")
        sys.exit(2)
    adapter = Adapter(c)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            op = json.loads(line)
        except ValueError:
            log(f"not an operation line: {line}")
            continue
        adapter.perform(op)
    # stdin closed: the session is over.
    os._exit(0)


if __name__ == "__main__":
    main()
