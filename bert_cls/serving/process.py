"""Starting ``bert-cls serve`` as a child process and waiting until it answers (quickstart, tests, bench)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import grpc

from bert_cls.errors import BertClsError
from bert_cls.serving.client import ServingClient, ServingError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``with ServerProcess(base, name) as server: ServingClient(server.address, name)...``"""

    def __init__(
        self,
        model_base_path,
        model_name: str,
        port: int = 0,
        poll_seconds: float = 0.5,
        startup_timeout: float = 120.0,
        log_file=None,
        rest: bool = False,
        model_config_file=None,
        config_poll_seconds: float = 1.0,
        extra_args=(),
    ):
        self.model_base_path, self.model_name = model_base_path, model_name
        self.extra_args = list(extra_args)  # more `bert-cls serve` flags
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.rest_port = free_port() if rest else None
        self.rest_url = f"http://127.0.0.1:{self.rest_port}" if rest else None
        self.poll_seconds, self.startup_timeout = poll_seconds, startup_timeout
        self.model_config_file, self.config_poll_seconds = model_config_file, config_poll_seconds
        self.log_file = log_file
        self.process = None
        self._log = None

    def command(self) -> list:
        command = [
            sys.executable,
            "-m",
            "bert_cls",
            "serve",
            "--model-name",
            self.model_name,
            "--port",
            str(self.port),
            "--poll-seconds",
            str(self.poll_seconds),
        ]
        if self.model_config_file:
            command += [
                "--model-config-file",
                str(self.model_config_file),
                "--model-config-file-poll-wait-seconds",
                str(self.config_poll_seconds),
            ]
        else:
            command += ["--model-base-path", str(self.model_base_path)]
        return command + (["--rest-api-port", str(self.rest_port)] if self.rest_port else []) + self.extra_args

    def start(self) -> "ServerProcess":
        self._log = open(self.log_file, "w") if self.log_file else None  # closed in stop()
        self.process = subprocess.Popen(self.command(), stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        with ServingClient(self.address, self.model_name, timeout=2.0, max_retries=0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    self.stop()
                    raise BertClsError(f"bert-cls serve exited with status {self.process.returncode} (log: {self.log_file})")
                try:
                    client.status()
                    return self
                except ServingError as exc:
                    # The server answers once the versions on disk are loaded; NOT_FOUND: it is up, with none.
                    if exc.code == grpc.StatusCode.NOT_FOUND:
                        return self
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
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
