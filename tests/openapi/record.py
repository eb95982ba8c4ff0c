#!/usr/bin/python3
"""record.py FILE TEST PORT METHOD PATH HEADERS BODY: append one answer to a recording.

For the shell integration tests: HEADERS is what `curl -D` wrote (the last
header block counts: a 100 Continue comes first), BODY what `curl -o` wrote.
The line has the shape tests/integration/lib/of_it.c records (see
validate.py) and is appended with O_APPEND in one write(2), so that it
cannot interleave with the lines of tests running at the same time.
"""
import json
import os
import sys


def main():
    path, test, port, method, req_path, headers_file, body_file = sys.argv[1:8]
    status, headers = 0, {}
    with open(headers_file, encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line.startswith("HTTP/"):
                status, headers = int(line.split()[1]), {}
            elif ":" in line:
                name, value = line.split(":", 1)
                name, value = name.strip().lower(), value.strip()
                headers[name] = headers[name] + ", " + value if name in headers else value
    with open(body_file, "rb") as f:
        raw = f.read()
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        body = raw.decode("latin-1")
    line = json.dumps({
        "test": test, "port": int(port), "server": "orderflow-api",
        "method": method, "path": req_path, "status": status,
        "headers": headers, "body": body,
    }, ensure_ascii=False, separators=(",", ":")) + "\n"
    data = line.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        off = 0
        while off < len(data):
            off += os.write(fd, data[off:])
    finally:
        os.close(fd)


if __name__ == "__main__":
    main()
