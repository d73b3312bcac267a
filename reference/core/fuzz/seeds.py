#!/usr/bin/env python3
"""Writes the seed corpora: corpus/codec_decode/ (MQTT packets, one or a few per file) and
corpus/broker_input/ (driver scripts in broker_input.rs's format). Run from anywhere:
`python3 reference/core/fuzz/seeds.py`. The fuzzer's finds go to a scratch corpus, not here."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def vbi(n):
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text):
    b = text.encode()
    return len(b).to_bytes(2, "big") + b


def u16(n):
    return n.to_bytes(2, "big")


def packet(first, body):
    return bytes([first]) + vbi(len(body)) + body


def props(v, raw=b""):
    return vbi(len(raw)) + raw if v == 5 else b""


def connect(v, client_id, flags=0x02, keep_alive=60, prop=b"", will=None, user=None, pw=None):
    payload = s(client_id)
    if will:
        flags |= 0x04 | (will["qos"] << 3) | (0x20 if will.get("retain") else 0)
        payload += props(v, will.get("props", b"")) + s(will["topic"]) + s(will["msg"])
    if user is not None:
        flags |= 0x80
        payload += s(user)
    if pw is not None:
        flags |= 0x40
        payload += s(pw)
    body = s("MQTT") + bytes([4 if v == 3 else 5, flags]) + u16(keep_alive) + props(v, prop)
    return packet(0x10, body + payload)


def publish(v, topic, msg, qos=0, pid=1, retain=False, dup=False, prop=b""):
    first = 0x30 | (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = s(topic) + (u16(pid) if qos else b"") + props(v, prop) + msg.encode()
    return packet(first, body)


def subscribe(v, pid, filters, prop=b""):
    body = u16(pid) + props(v, prop)
    for f, opts in filters:
        body += s(f) + bytes([opts])
    return packet(0x82, body)


def unsubscribe(v, pid, filters):
    return packet(0xA2, u16(pid) + props(v) + b"".join(s(f) for f in filters))


def ack(first, pid):
    return packet(first, u16(pid))


PUBACK, PUBREC, PUBREL, PUBCOMP = 0x40, 0x50, 0x62, 0x70
PINGREQ = packet(0xC0, b"")
DISCONNECT = packet(0xE0, b"")


def packets(v):
    """Named valid packets a client sends, for version v (3 or 5)."""
    p5 = v == 5
    return {
        "connect": connect(v, "fz%d" % v),
        "connect-props": connect(
            v,
            "fz-props",
            prop=b"\x11\x00\x00\x00\x3c\x22\x00\x0a\x21\x00\x05" if p5 else b"",
            user="user",
            pw="secret",
        ),
        "connect-will": connect(
            v,
            "fz-will",
            flags=0x00,
            keep_alive=5,
            prop=b"\x11\x00\x00\x01\x00" if p5 else b"",
            will={"qos": 1, "retain": True, "topic": "will/t", "msg": "gone",
                  "props": b"\x18\x00\x00\x00\x02" if p5 else b""},
        ),
        "publish-qos0": publish(v, "a/b", "hello"),
        "publish-qos1-retain": publish(v, "a/b", "one", qos=1, pid=1, retain=True),
        "publish-qos2": publish(v, "a/c", "two", qos=2, pid=2,
                                prop=b"\x01\x01\x02\x00\x00\x00\x3c" if p5 else b""),
        "publish-alias": publish(v, "a/d", "aliased", qos=1, pid=3,
                                 prop=b"\x23\x00\x01" if p5 else b""),
        "subscribe": subscribe(v, 1, [("a/#", 2), ("+/b", 1), ("$share/g/a/c", 0)],
                               prop=b"\x0b\x07" if p5 else b""),
        "unsubscribe": unsubscribe(v, 2, ["a/#"]),
        "pubrel": ack(PUBREL, 2),
        "puback": ack(PUBACK, 1),
        "pingreq": PINGREQ,
        "disconnect": DISCONNECT,
    }


def write(target, name, data):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


# Driver script operations (broker_input.rs).
def op_connect(slot):
    return bytes([slot << 4])


def op_bytes(slot, data):
    out = b""
    while True:  # at most 255 bytes per operation
        chunk, data = data[:255], data[255:]
        out += bytes([(slot << 4) | 1, len(chunk)]) + chunk
        if not data:
            return out


def op_written_all(slot):
    return bytes([(slot << 4) | 3])


def op_close(slot):
    return bytes([(slot << 4) | 4])


def op_secs(n):
    return bytes([6, n])


OP_NEXT_TIMER = bytes([7])


def broker_script(v, config, sub_version=None):
    """Subscriber in slot 1 (version sub_version or v), publisher with a will in slot 0."""
    pub, sub = packets(v), packets(sub_version or v)
    return (
        bytes([config])
        + op_connect(1) + op_bytes(1, sub["connect-props"] + sub["subscribe"])
        + op_connect(0) + op_bytes(0, pub["connect-will"])
        + op_bytes(0, pub["publish-qos0"] + pub["publish-qos1-retain"] + pub["publish-qos2"])
        + op_bytes(0, pub["pubrel"] + pub["publish-alias"])
        + op_written_all(1)
        + op_bytes(1, sub["puback"] + ack(PUBREC, 2) + ack(PUBCOMP, 2) + sub["pingreq"])
        + op_written_all(0)
        + op_connect(2) + op_bytes(2, sub["connect"] + sub["subscribe"])
        + op_close(0)  # abnormal end: the will goes out after its delay
        + op_secs(10) + op_written_all(1) + op_written_all(2)
        + op_bytes(1, sub["unsubscribe"] + sub["disconnect"])
        + op_secs(30) + OP_NEXT_TIMER
    )


def main():
    for v in (3, 5):
        tag = "v311" if v == 3 else "v5"
        ps = packets(v)
        for name, data in ps.items():
            write("codec_decode", "%s-%s" % (tag, name), data)
        write("codec_decode", "%s-session" % tag,
              ps["connect"] + ps["subscribe"] + ps["publish-qos1-retain"] + ps["puback"]
              + ps["pingreq"] + ps["disconnect"])
        write("broker_input", "%s-pubsub" % tag, broker_script(v, 0x00))
        write("broker_input", "%s-pubsub-small-limits" % tag, broker_script(v, 0x07))
    write("broker_input", "mixed-v5-pub-v311-sub", broker_script(5, 0x04, sub_version=3))
    write("broker_input", "mixed-v311-pub-v5-sub", broker_script(3, 0x09, sub_version=5))


if __name__ == "__main__":
    main()
