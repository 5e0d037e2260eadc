"""The local stack: moto server, mountebank with the bank imposter, and ``chalice local``.

``make run`` runs ``python -m payments_admin.stack`` in the foreground; the test session
uses ``LocalStack`` on free ports. Either way every process started here is stopped here.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = ROOT / "chalice_app"
MB_DIR = ROOT / "mountebank"
HOST = "127.0.0.1"


# Signals that end the stack; ignored while it stops, so a second one cannot interrupt stop().
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Told to every child, which watches it (``watch_parent``) and stops when its runner is gone.
PARENT_PID_ENV = "PAYMENTS_STACK_PARENT_PID"
# The delivery worker's stream position (in the log directory): it belongs to one run of
# the stack, whose moto stream starts over, so a stack starting removes it.
DELIVERY_CHECKPOINT = "delivery-checkpoint.json"
_PR_SET_PDEATHSIG = 1


class StackError(RuntimeError):
    """The stack could not start (a port in use, a process that died)."""


@dataclass(frozen=True)
class Ports:
    api: int = 8000
    aws: int = 8001
    bank: int = 4545
    mb_admin: int = 2525
    shop: int = 8010

    @classmethod
    def from_env(cls) -> Ports:
        return cls(
            api=int(os.environ.get("PAYMENTS_API_PORT", 8000)),
            aws=int(os.environ.get("PAYMENTS_AWS_PORT", 8001)),
            bank=int(os.environ.get("PAYMENTS_BANK_PORT", 4545)),
            mb_admin=int(os.environ.get("PAYMENTS_MB_ADMIN_PORT", 2525)),
            shop=int(os.environ.get("PAYMENTS_SHOP_PORT", 8010)),
        )

    def environment(self) -> dict[str, str]:
        """The variables that point ``payments-admin`` (``Ports.from_env``) at these ports."""
        return {
            "PAYMENTS_API_PORT": str(self.api),
            "PAYMENTS_AWS_PORT": str(self.aws),
            "PAYMENTS_BANK_PORT": str(self.bank),
            "PAYMENTS_MB_ADMIN_PORT": str(self.mb_admin),
        }

    @classmethod
    def free(cls) -> Ports:
        return cls(
            api=free_port(),
            aws=free_port(),
            bank=free_port(),
            mb_admin=free_port(),
            shop=free_port(),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        # Like the servers themselves: connections in TIME_WAIT from a previous run don't count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def _die_with_parent(parent: int) -> Any:
    """A ``preexec_fn``: on Linux the kernel sends the child SIGTERM when its runner dies.

    That covers mountebank too (Node, no watcher of its own) even if the runner is SIGKILLed;
    the Python children also run ``watch_parent``, which works on any POSIX system.
    """

    # Loaded here, in the parent: after fork() in a threaded parent, importing is not safe.
    prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None

    def preexec() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the runner died before the line above
            os._exit(1)

    return preexec


def watch_parent(interval: float = 0.5) -> None:
    """In a child of the stack: stop this process group when the runner that started it dies.

    Runs on a daemon thread; does nothing outside the stack (no ``PAYMENTS_STACK_PARENT_PID``).
    """
    parent = int(os.environ.get(PARENT_PID_ENV, "0"))
    if parent <= 1:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(0), signal.SIGTERM)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


class _SignalsIgnored:
    """Ignore the stop signals inside the block (only the main thread may set handlers)."""

    def __enter__(self) -> None:
        self._saved: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._saved[signum] = signal.signal(signum, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)


def local_env(ports: Ports) -> dict[str, str]:
    """Environment of every process that talks to this stack (app, CLI, tests)."""
    aws = f"http://{HOST}:{ports.aws}"
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": aws,
        "AWS_ENDPOINT_URL_KMS": aws,
        # boto3 names it after the service id "API Gateway". Only tests use it (no usage plan
        # locally); it also keeps a stray call off real AWS.
        "AWS_ENDPOINT_URL_API_GATEWAY": aws,
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": aws,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PAYMENTS_STAGE": "local",
        "PAYMENTS_TABLE_PREFIX": "payments-local-",
        # Webhooks to the test receivers on 127.0.0.1 (chalicelib.settings.local_webhooks).
        "PAYMENTS_LOCAL_WEBHOOKS": "1",
        "PAYMENTS_BANK_URL": f"http://{HOST}:{ports.bank}",
        # The demo shop's origin, which bootstrap registers for the demo merchant.
        "PAYMENTS_SHOP_PORT": str(ports.shop),
    }


def _wait_http(url: str, process: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited with code {process.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise StackError(f"{name} did not answer at {url} within {timeout:.0f}s")


def chalice_local_command(port: int, project_dir: Path = APP_DIR) -> list[str]:
    """``chalice local`` serving a project on ``port`` (no autoreload: tests write files)."""
    return [
        sys.executable,
        "-m",
        "payments_admin.chalice_local",
        "--project-dir",
        str(project_dir),
        "local",
        "--host",
        HOST,
        "--port",
        str(port),
        "--stage",
        "local",
        "--no-autoreload",
    ]


# ``make run``'s reconcile schedule (deployed: every 5 minutes, see app.py).
RECONCILE_EVERY_SECONDS = 30.0


class LocalStack:
    """Starts and stops the three local services, and the workers that stand in for
    Lambda's triggers: the delivery worker, and (``reconcile_every``) the reconcile
    schedule."""

    def __init__(
        self,
        ports: Ports,
        log_dir: Path,
        *,
        api_output: IO[Any] | None = None,
        reconcile_every: float | None = None,
    ) -> None:
        self.ports = ports
        self.log_dir = log_dir
        self._api_output = api_output
        self.reconcile_every = reconcile_every
        self._processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._logs: list[IO[Any]] = []

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.ports.api}"

    @property
    def shop_url(self) -> str:
        return f"http://{HOST}:{self.ports.shop}"

    @property
    def env(self) -> dict[str, str]:
        return local_env(self.ports)

    def _spawn(self, name: str, args: list[str], cwd: Path, output: IO[Any] | None = None) -> Any:
        if output is None:
            output = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
            self._logs.append(output)
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env={**os.environ, **self.env, PARENT_PID_ENV: str(os.getpid())},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our own process group, so stop() reaches its children
            preexec_fn=_die_with_parent(os.getpid()),
        )
        self._processes.append((name, process))
        return process

    def start(self) -> LocalStack:
        busy = [
            p
            for p in (
                self.ports.api,
                self.ports.aws,
                self.ports.bank,
                self.ports.mb_admin,
                self.ports.shop,
            )
            if port_in_use(p)
        ]
        if busy:
            raise StackError(
                f"port(s) {', '.join(map(str, busy))} already in use on {HOST}; stop what uses "
                "them or choose others (PAYMENTS_API_PORT, PAYMENTS_AWS_PORT, "
                "PAYMENTS_BANK_PORT, PAYMENTS_MB_ADMIN_PORT, PAYMENTS_SHOP_PORT)"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_moto()
            self._start_bank()
            self._bootstrap()
            # The shop first: once the API answers, everything does.
            self._start_shop()
            self._start_api()
            (self.log_dir / DELIVERY_CHECKPOINT).unlink(missing_ok=True)
            self.start_delivery_worker()
            if self.reconcile_every is not None:
                self.start_reconciler(self.reconcile_every)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_moto(self) -> None:
        process = self._spawn(
            "moto",
            [sys.executable, "-m", "payments_admin.moto_server", "--port", str(self.ports.aws)],
            ROOT,
        )
        _wait_http(f"http://{HOST}:{self.ports.aws}/moto-api/", process, "moto server", 30)

    def _start_bank(self) -> None:
        mb = MB_DIR / "node_modules" / ".bin" / "mb"
        if not mb.exists():
            raise StackError("mountebank is not installed: run `npm ci` in mountebank/")
        process = self._spawn(
            "mountebank",
            [
                str(mb),
                "start",
                "--port",
                str(self.ports.mb_admin),
                "--host",
                HOST,
                "--allowInjection",
                "--localOnly",
                "--logfile",
                str(self.log_dir / "mb-file.log"),
                "--pidfile",
                str(self.log_dir / "mb.pid"),
            ],
            MB_DIR,
        )
        admin = f"http://{HOST}:{self.ports.mb_admin}"
        _wait_http(f"{admin}/config", process, "mountebank", 30)
        imposter = {
            "port": self.ports.bank,
            "protocol": "http",
            # Never record: mountebank would keep every card number and CVV in plain text
            # and serve them on its admin port. Tests count calls with the bank's /_stats.
            "recordRequests": False,
            "stubs": [{"responses": [{"inject": (MB_DIR / "bank.js").read_text()}]}],
        }
        request = urllib.request.Request(
            f"{admin}/imposters",
            data=json.dumps(imposter).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 201:
                raise StackError(f"mountebank refused the bank imposter ({response.status})")

    def _bootstrap(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "payments_admin.cli", "bootstrap"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def _start_api(self) -> None:
        self.serve_chalice("chalice", APP_DIR, self.ports.api, self._api_output)

    def _start_shop(self) -> None:
        process = self._spawn(
            "shop",
            [
                sys.executable,
                "-m",
                "payments_admin.demo_shop",
                "--port",
                str(self.ports.shop),
                "--api",
                self.api_url,
            ],
            ROOT,
        )
        _wait_http(f"{self.shop_url}/", process, "demo shop", 30)

    def serve_chalice(
        self, name: str, project_dir: Path, port: int, output: IO[Any] | None = None
    ) -> subprocess.Popen[bytes]:
        """Serve a Chalice project with ``chalice local`` on ``port`` (stopped with the stack)."""
        process = self._spawn(name, chalice_local_command(port, project_dir), project_dir, output)
        _wait_http(f"http://{HOST}:{port}/health", process, name, 60)
        return process

    def pid_of(self, name: str) -> int:
        """The process id of a service this stack started ("moto", "mountebank", "chalice")."""
        return next(p.pid for n, p in self._processes if n == name)

    def start_delivery_worker(self) -> subprocess.Popen[bytes]:
        """The delivery worker (webhooks): the outbox stream and the retry schedule, locally.

        Public so a test can kill it and start it again (it resumes from its checkpoint).
        """
        self.delivery_worker: subprocess.Popen[bytes] = self._spawn(
            "delivery",
            [
                sys.executable,
                "-m",
                "payments_admin.delivery_worker",
                "--state-dir",
                str(self.log_dir),
            ],
            ROOT,
        )
        return self.delivery_worker

    def start_reconciler(self, every: float) -> subprocess.Popen[bytes]:
        """The reconcile job every ``every`` seconds, as its schedule runs it deployed."""
        return self._spawn(
            "reconcile",
            [sys.executable, "-m", "payments_admin.reconcile_worker", "--every", str(every)],
            ROOT,
        )

    def dead(self) -> list[str]:
        return [name for name, p in self._processes if p.poll() is not None]

    def stop(self) -> None:
        """Stop every process this stack started (whole process groups), then close logs.

        Further stop signals are ignored meanwhile: GNU make forwards SIGTERM to its child, so
        the runner can get a second one while it stops, and it must not leave a half-stopped
        stack holding its ports.
        """
        with _SignalsIgnored():
            self._stop()

    def _stop(self) -> None:
        for _, process in reversed(self._processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for _, process in reversed(self._processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._processes.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    """``make run``: serve the stack until SIGINT/SIGTERM, in the foreground or background."""
    from payments_admin.bootstrap import (
        DEMO_MERCHANT_ID,
        DEMO_PUBLISHABLE_KEY,
        DEMO_SECRET_KEY,
    )

    stack = LocalStack(
        Ports.from_env(),
        ROOT / ".run",
        api_output=sys.stdout.buffer,
        reconcile_every=RECONCILE_EVERY_SECONDS,
    )

    def shutdown(signum: int, _frame: object) -> None:
        for other in STOP_SIGNALS:  # the next one must not interrupt the stop below
            signal.signal(other, signal.SIG_IGN)
        raise KeyboardInterrupt

    for signum in STOP_SIGNALS:
        signal.signal(signum, shutdown)
    try:
        stack.start()
        print(
            "\nPayment platform is up.\n"
            f"  demo shop      {stack.shop_url} (pay with a test card)\n"
            f"  API            {stack.api_url}\n"
            f"  DynamoDB/KMS   http://{HOST}:{stack.ports.aws} (moto server)\n"
            f"  bank           http://{HOST}:{stack.ports.bank} "
            f"(mountebank admin http://{HOST}:{stack.ports.mb_admin})\n"
            f"  demo merchant         {DEMO_MERCHANT_ID}\n"
            f"  demo secret key       {DEMO_SECRET_KEY}\n"
            f"  demo publishable key  {DEMO_PUBLISHABLE_KEY}\n"
            f"  logs           {stack.log_dir}/\n"
            f"  reconcile job  every {RECONCILE_EVERY_SECONDS:.0f} s; webhook deliveries "
            "and retries: the delivery worker\n"
            "payments-admin finds this stack with (in another shell):\n"
            f"  export {' '.join(f'{k}={v}' for k, v in stack.ports.environment().items())}\n"
            "Stop with Ctrl-C (or SIGTERM).\n",
            flush=True,
        )
        parent = os.getppid()
        while not stack.dead():
            if os.getppid() != parent:
                # `make` was killed (SIGTERM to make alone is not passed on): stop with it.
                print("stopping: parent process exited", file=sys.stderr)
                return 0
            time.sleep(0.5)
        print(f"stopping: {', '.join(stack.dead())} exited", file=sys.stderr)
        return 1
    except StackError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
