"""Starting ``bert-cls serve`` as a child process and waiting until it answers (quickstart, tests, bench)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from bert_cls.errors import BertClsError
from bert_cls.serving.client import ServingClient, ServingError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``with ServerProcess(base, name) as server: ServingClient(server.address, name)...``"""

    def __init__(self, model_base_path, model_name: str, port: int = 0, poll_seconds: float = 0.5,
                 startup_timeout: float = 120.0, log_file=None):
        self.model_base_path, self.model_name = str(model_base_path), model_name
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.poll_seconds, self.startup_timeout = poll_seconds, startup_timeout
        self.log_file = log_file
        self.process = None

    def start(self) -> "ServerProcess":
        output = open(self.log_file, "w") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bert_cls", "serve", "--model-base-path", self.model_base_path,
             "--model-name", self.model_name, "--port", str(self.port), "--poll-seconds", str(self.poll_seconds)],
            stdout=output, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.startup_timeout
        with ServingClient(self.address, self.model_name, timeout=2.0, max_retries=0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise BertClsError(f"bert-cls serve exited with status {self.process.returncode} (log: {self.log_file})")
                try:
                    client.status()
                    return self
                except ServingError:
                    time.sleep(0.3)
        self.stop()
        raise BertClsError(f"bert-cls serve did not answer on {self.address} within {self.startup_timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
