#!/usr/bin/env python3
"""Writes the separable toy classification captures of tests/cli_classify.sh
(tests/fixtures/toy_cls/<class>/<n>.pcap): three applications that differ in protocol, port,
packet sizes and payload bytes, 40 flows each per file. Run once; outputs are committed.
Plain Python (struct), no third-party modules."""
import os, random, struct, sys

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ip4(src, dst, proto, l4):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), random.randrange(65536), 0, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + l4

def l4sum(src, dst, proto, seg):
    ph = src + dst + struct.pack('!BBH', 0, proto, len(seg))
    return csum(ph + seg)

def udp(src, dst, sp, dp, pay):
    seg = struct.pack('!HHHH', sp, dp, 8 + len(pay), 0) + pay
    c = l4sum(src, dst, 17, seg) or 0xffff
    return ip4(src, dst, 17, seg[:6] + struct.pack('!H', c) + seg[8:])

def tcp(src, dst, sp, dp, seq, ack, flags, pay):
    seg = struct.pack('!HHIIBBHHH', sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0) + pay
    c = l4sum(src, dst, 6, seg)
    return ip4(src, dst, 6, seg[:16] + struct.pack('!H', c) + seg[18:])

def eth(ip):
    return b'\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00' + ip

def flows(kind, n, t0):
    out = []
    for i in range(n):
        c = bytes([10, 0, random.randrange(256), random.randrange(1, 255)])
        s = bytes([192, 168, random.randrange(256), random.randrange(1, 255)])
        sp = random.randrange(32768, 60000)
        t = t0 + i * 0.5
        if kind == 'dns':
            q = b'\x12\x34\x01\x00\x00\x01' + bytes(random.randrange(97, 123) for _ in range(random.randrange(20, 40)))
            out += [(t, udp(c, s, sp, 53, q)), (t + 0.002, udp(s, c, 53, sp, q + b'\xc0\x0c' * random.randrange(10, 40)))]
        elif kind == 'ntp':
            out += [(t, udp(c, s, 123, 123, b'\x23' + bytes(47))), (t + 0.03, udp(s, c, 123, 123, b'\x24' + bytes(47)))]
        else:
            a, b = random.randrange(1 << 31), random.randrange(1 << 31)
            req = b'GET /' + bytes(random.randrange(97, 123) for _ in range(random.randrange(50, 200))) + b' HTTP/1.1\r\n'
            resp = b'HTTP/1.1 200 OK\r\n' + b'z' * random.randrange(300, 900)
            out += [(t, tcp(c, s, sp, 80, a, 0, 0x02, b'')), (t + 0.01, tcp(s, c, 80, sp, b, a + 1, 0x12, b'')),
                    (t + 0.011, tcp(c, s, sp, 80, a + 1, b + 1, 0x10, b'')),
                    (t + 0.012, tcp(c, s, sp, 80, a + 1, b + 1, 0x18, req)),
                    (t + 0.05, tcp(s, c, 80, sp, b + 1, a + 1 + len(req), 0x18, resp))]
    return out

def write_pcap(path, pkts):
    pkts.sort(key=lambda p: p[0])
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for t, ip in pkts:
            fr = eth(ip)
            f.write(struct.pack('<IIII', int(t), int(round((t % 1) * 1e6)) % 1000000, len(fr), len(fr)) + fr)

def main():
    out = sys.argv[1] if len(sys.argv) > 1 else 'tests/fixtures/toy_cls'
    random.seed(5)
    for kind in ('dns', 'ntp', 'web'):
        os.makedirs(os.path.join(out, kind), exist_ok=True)
        for k in range(2):
            write_pcap(os.path.join(out, kind, '%d.pcap' % k), flows(kind, 40, 1.6e9 + k * 100))

if __name__ == '__main__':
    main()
