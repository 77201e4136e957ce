#!/usr/bin/env python3
"""Small servers and clients for demo.sh and e2e.sh (standard library only).

  nettool.py udp-echo PORT                    echo server; replies "echo FROM_IP:PORT DATA"
  nettool.py tcp-sink PORT LOGFILE            per connection: read to EOF, append
                                              "peer IP:PORT bytes N sha256 HEX" to LOGFILE,
                                              answer the hex digest, close
  nettool.py tcp-send HOST PORT FILE          send FILE, print the server's answer
  nettool.py tcp-many HOST PORT COUNT        COUNT connections one after the other, each
                                              sending a line and reading the answer; prints
                                              "ok N failed M"; exit 0 when none failed
  nettool.py udp-request HOST PORT MSG [SPORT]
                                              one request on a connected socket (IPv4 or
                                              IPv6 HOST); prints the reply; exit 0 ok,
                                              10 ECONNREFUSED, 11 EHOSTUNREACH, 12 timeout,
                                              13 other error
  nettool.py http ADDR PORT DIR               static web server (no reverse DNS look-ups,
                                              unlike `python3 -m http.server`); logs clients
  nettool.py garbage IFACE COUNT              write COUNT malformed packets into IFACE (a TUN
                                              device) through an AF_PACKET socket
"""
import errno
import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time


def udp_echo(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    while True:
        data, addr = s.recvfrom(65535)
        s.sendto(b"echo %s:%d " % (addr[0].encode(), addr[1]) + data, addr)


def tcp_sink(port, logfile):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)
    lock = threading.Lock()

    def serve(conn, addr):
        h, n = hashlib.sha256(), 0
        with conn:
            conn.settimeout(60)
            while True:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
            digest = h.hexdigest()
            with lock, open(logfile, "a") as f:
                f.write("peer %s:%d bytes %d sha256 %s\n" % (addr[0], addr[1], n, digest))
            conn.sendall(digest.encode())

    while True:
        conn, addr = srv.accept()
        threading.Thread(target=serve, args=(conn, addr), daemon=True).start()


def tcp_send(host, port, path):
    s = socket.create_connection((host, port), timeout=20)
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 16)
            if not chunk:
                break
            s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    print(answer.decode())


def tcp_many(host, port, count):
    ok = failed = 0
    for i in range(count):
        try:
            s = socket.create_connection((host, port), timeout=5)
            with s:
                s.sendall(b"connection %d\n" % i)
                s.shutdown(socket.SHUT_WR)
                answer = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
            if answer:
                ok += 1
            else:
                failed += 1
        except OSError as e:
            print("connection %d: %s" % (i, e))
            failed += 1
    print("ok %d failed %d" % (ok, failed))
    return 0 if failed == 0 else 1


def udp_request(host, port, msg, sport=0):
    v6 = ":" in host
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("::" if v6 else "0.0.0.0", sport))
    s.settimeout(2)
    s.connect((host, port))
    try:
        s.send(msg.encode())
        print(s.recv(65535).decode())
        return 0
    except socket.timeout:
        print("timeout")
        return 12
    except OSError as e:
        print("error %s" % errno.errorcode.get(e.errno, e.errno))
        return {errno.ECONNREFUSED: 10, errno.EHOSTUNREACH: 11}.get(e.errno, 13)


def http(addr, port, directory):
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Server(ThreadingHTTPServer):
        def server_bind(self):
            # HTTPServer.server_bind asks the resolver for our name: a DNS query to wherever
            # /etc/resolv.conf points, which these namespaces must not send
            socketserver_bind(self)
            self.server_name, self.server_port = addr, port

    import socketserver
    socketserver_bind = socketserver.TCPServer.server_bind
    handler = functools.partial(SimpleHTTPRequestHandler, directory=directory)
    Server((addr, port), handler).serve_forever()


def ipv4_header(src, dst, proto, payload_len, csum=True, ihl=5, total=None, ttl=64):
    total = 20 + payload_len if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total & 0xFFFF, 0x1234, 0, ttl, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    if csum:
        s = sum(struct.unpack("!10H", h))
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        h = h[:10] + struct.pack("!H", ~s & 0xFFFF) + h[12:]
    return h


def garbage_packets(count):
    rnd = random.Random(4242)
    inside, outside, pool = "10.0.0.2", "203.0.113.2", "198.51.100.1"
    kinds = [
        # random bytes of random length
        lambda: bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 120))),
        # IPv4 from a subscriber with a wrong header checksum
        lambda: ipv4_header(inside, outside, 17, 8, csum=False)[:10] + b"\xde\xad" +
        ipv4_header(inside, outside, 17, 8)[12:] + bytes(8),
        # header length below 5 words
        lambda: ipv4_header(inside, outside, 6, 20, ihl=3) + bytes(20),
        # total length beyond the packet
        lambda: ipv4_header(inside, outside, 6, 20, total=1400) + bytes(20),
        # TCP header cut short
        lambda: ipv4_header(inside, outside, 6, 6) + bytes(6),
        # ICMP error from outside quoting nothing useful
        lambda: ipv4_header(outside, pool, 1, 12) + bytes([3, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 0]),
        # to the pool, no mapping, bad UDP length
        lambda: ipv4_header(outside, pool, 17, 8) + struct.pack("!HHHH", 53, 4444, 999, 0),
        # IPv6 version nibble
        lambda: bytes([0x60]) + bytes(rnd.getrandbits(8) for _ in range(47)),
        # neither from inside nor to the pool
        lambda: ipv4_header("192.0.2.7", outside, 17, 8) + bytes(8),
    ]
    return [kinds[i % len(kinds)]() for i in range(count)]


def garbage(iface, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.bind((iface, 0))
    sent = 0
    for i, p in enumerate(garbage_packets(count)):
        try:
            s.send(p)
            sent += 1
        except OSError:
            pass
        if i % 50 == 49:
            time.sleep(0.002)  # a flood, but within what the TUN queue (500) holds
    print(sent)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "udp-echo":
        udp_echo(int(args[0]))
    elif cmd == "tcp-sink":
        tcp_sink(int(args[0]), args[1])
    elif cmd == "tcp-send":
        tcp_send(args[0], int(args[1]), args[2])
    elif cmd == "tcp-many":
        sys.exit(tcp_many(args[0], int(args[1]), int(args[2])))
    elif cmd == "udp-request":
        sys.exit(udp_request(args[0], int(args[1]), args[2], int(args[3]) if len(args) > 3 else 0))
    elif cmd == "http":
        http(args[0], int(args[1]), args[2])
    elif cmd == "garbage":
        garbage(args[0], int(args[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    os.umask(0o022)
    main(sys.argv)
