"""Start a real `spyglass serve` on a free port for a benchmark, and wait until it answers."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_server(db: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """(process, base URL) of a server on `db` with gRPC off; stop it with .terminate() and .wait()."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--db", str(db), "--port", str(port), "--grpc-port", "0", *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/api/stats", timeout=60)
            return server, url
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"spyglass did not start on {db}")
