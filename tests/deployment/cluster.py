"""A real Airflow 3.3 deployment on this machine, started and stopped by a test or a benchmark.

``airflow db migrate`` on fresh PostgreSQL databases (Airflow's metadata, and the lineage
store through our external DB manager and the ``lineage_admin`` connection), then
``airflow api-server``, ``airflow dag-processor`` and ``airflow scheduler``
(LocalExecutor), each in a process group of its own, on free ports, with a temporary
``AIRFLOW_HOME``. Runs are unpaused, triggered and watched through the REST API with a
token from the simple auth manager. :meth:`Deployment.stop` ends every process the
deployment started, including the api-server's and the executor's children, and drops
the databases and roles it created.

    with Deployment(dags=[Path("dags/ml_pipeline_local.py")]) as d:
        d.unpause("ml_pipeline_local")
        d.trigger("ml_pipeline_local", "run-1")
        d.wait_for_runs("ml_pipeline_local", ["run-1"])

The lineage store is set up as docker/compose.yaml sets it up (tests/deployment/
test_docker.py checks that they agree): a role that owns it (``CREATEROLE BYPASSRLS``)
migrates it and provisions the account's login role, ``lineage_acct_<account>``; every
service, so every task process, has only the ``lineage`` connection logging in as that
role, which has no DDL rights. Our config section is :data:`LINEAGE_SECTION`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

PG_URL = os.environ.get(
    "AIRFLOW_LINEAGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
"""The PostgreSQL server the deployment creates its databases on (its database is unused)."""

BIN = Path(sys.executable).parent
"""The virtualenv's bin folder: ``airflow`` and ``airflow-lineage`` are taken from it."""

SERVICES = ("api-server", "dag-processor", "scheduler")
"""The long-running services, in the order they start."""

INIT_STORE = Path(__file__).resolve().parents[2] / "docker" / "init_store.py"
"""What compose's airflow-init runs after ``airflow db migrate``: the account roles."""

MARKER = "AIRFLOW_LINEAGE_DEPLOYMENT"
"""An environment variable every process of a deployment inherits: how survivors are found."""

# --- our config section and the lineage store: one place each ----------------------------

LINEAGE_SECTION = "ML_LINEAGE"
"""Our config section as it appears in ``AIRFLOW__<SECTION>__<OPTION>``."""


def lineage_option(name: str) -> str:
    """Return the environment variable that sets our config option ``name``."""
    return f"AIRFLOW__{LINEAGE_SECTION}__{name.upper()}"


def lineage_connection(host: str, port: int, database: str, login: str, password: str) -> str:
    """Return a lineage connection (the value of ``AIRFLOW_CONN_<ID>``) to a PostgreSQL store.

    The standard fields only: host, port, schema (the database), login and password. The
    login is who the store acts as: ``lineage_acct_<account>`` for an account's
    ``lineage`` connection, the tables' owner for the ``lineage_admin`` connection.
    """
    return json.dumps(
        {
            "conn_type": "lineage",
            "host": host,
            "port": port,
            "schema": database,
            "login": login,
            "password": password,
        }
    )


def connection_to(url: str) -> str:
    """Return the lineage connection that logs in as ``url``'s user to ``url``'s database."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if not (u.host and u.database and u.username and u.password):
        raise ValueError("a lineage connection needs a host, database, login and password")
    return lineage_connection(u.host, u.port or 5432, u.database, u.username, u.password)


ADMIN_CONN = "AIRFLOW_CONN_LINEAGE_ADMIN"
"""The admin connection (``[ml_lineage] admin_conn_id``): only the migrating process has it."""


def prepare_lineage_store(
    admin_url: str,
    account: str,
    password: str,
    env: Mapping[str, str],
    timeout: float = 420.0,
) -> None:
    """Migrate Airflow's database and create the lineage store, then provision an account.

    What docker/compose.yaml's airflow-init runs, in its environment: ``airflow db
    migrate`` with the ``lineage_admin`` connection logging in as ``admin_url``'s user
    (the tables' owner) runs Airflow's migrations, then creates the lineage store (our
    external DB manager); docker/init_store.py then gives the account's login role
    ``lineage_acct_<account>`` its ``password``, the grants row-level security needs
    (``provision_account_role`` through ``connect_admin``) and CONNECT. Task processes
    log in as that role, which may not change the schema: they cannot run DDL.

    :raises DeploymentError: a step failed or timed out.
    """
    init_env = {
        **env,
        ADMIN_CONN: connection_to(admin_url),
        "LINEAGE_ACCOUNTS": f"{account}={password}",
    }
    _run([str(BIN / "airflow"), "db", "migrate"], init_env, "airflow db migrate", timeout)
    _run([str(BIN / "python"), str(INIT_STORE)], init_env, "docker/init_store.py", timeout)


# ------------------------------------------------------------------------------------------


class DeploymentError(RuntimeError):
    """The deployment did not start, or a run did not finish; the message has the logs."""


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_admin(sql: str) -> None:
    """Run one statement on the server's ``postgres`` database, outside a transaction."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(PG_URL)
    with psycopg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        conn.execute(sql)


def database_url(name: str, login: str | None = None, password: str | None = None) -> str:
    """Return the ``postgresql+psycopg`` URL of database ``name`` on the test server.

    :param login: log in as this role (with ``password``) instead of the server URL's user.
    """
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL).set(drivername="postgresql+psycopg", database=name)
    if login is not None:
        url = url.set(username=login, password=password)
    return url.render_as_string(hide_password=False)


def _run(cmd: list[str], env: Mapping[str, str], what: str, timeout: float) -> str:
    try:
        out = subprocess.run(
            cmd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise DeploymentError(f"{what} took more than {timeout:.0f} s: {' '.join(cmd)}") from e
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).splitlines()[-40:])
        raise DeploymentError(f"{what} failed (exit {out.returncode}):\n{tail}")
    return out.stdout


def _marked_pids(marker: str) -> list[int]:
    """Return every live process whose environment carries ``MARKER=marker``."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


class Deployment:
    """Airflow's api-server, dag-processor and scheduler (LocalExecutor) on PostgreSQL.

    :param dags: DAG files (and folders, e.g. ``policies``) linked into the DAGs folder.
    :param env: extra environment for every service (and so for every task process).
    :param lineage_store: also create a PostgreSQL lineage store, owned by a role of its
        own, with the ``lineage_admin`` connection for ``airflow db migrate`` only and
        the ``lineage`` connection (``AIRFLOW_CONN_LINEAGE_DEFAULT``) for every service,
        logging in as the account's role (:attr:`account`).
    :param parallelism: ``[core] parallelism``: task processes running at once.
    :param start_timeout: seconds to wait for migration and for the services' health.
    """

    def __init__(
        self,
        dags: Iterable[Path],
        *,
        env: Mapping[str, str] | None = None,
        lineage_store: bool = True,
        parallelism: int = 16,
        start_timeout: float = 420.0,
    ) -> None:
        self.dags = [Path(p).resolve() for p in dags]
        self.extra_env = dict(env or {})
        self.with_lineage_store = lineage_store
        self.parallelism = parallelism
        self.start_timeout = start_timeout
        self.id = secrets.token_hex(5)
        self.root = Path(tempfile.mkdtemp(prefix=f"airflow-deploy-{self.id}-"))
        self.home = self.root / "airflow_home"
        self.dags_folder = self.root / "dags"
        self.logs = self.root / "logs"
        self.metadata_db = f"af_meta_{self.id}"
        self.lineage_db = f"af_lineage_{self.id}"
        self.lineage_owner = f"af_lineage_owner_{self.id}"
        self.lineage_admin_url = database_url(
            self.lineage_db, self.lineage_owner, secrets.token_hex(12)
        )
        """The tables' owner: migrates the store and provisions account roles."""
        self.account = f"{secrets.randbelow(10**12):012d}"
        """The account the deployment records as: its tasks log in as its role."""
        self.lineage_url = database_url(
            self.lineage_db, f"lineage_acct_{self.account}", secrets.token_hex(12)
        )
        """The store as the account's login: what tasks, the CLI and the tests open."""
        self.api_port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env: dict[str, str] = {}
        self.timings: dict[str, float] = {}
        self._token: str | None = None
        self._databases: list[str] = []
        self._roles: list[str] = []

    # --- environment -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return the api-server's address."""
        return f"http://127.0.0.1:{self.api_port}"

    def _environment(self) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "ML_PIPELINE", "PYTEST_", "_AIRFLOW"))
        }
        meta = database_url(self.metadata_db)
        env = {
            **inherited,
            "PATH": f"{BIN}{os.pathsep}{inherited.get('PATH', '')}",
            MARKER: self.id,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
            # asyncpg is not installed; Airflow would derive postgresql+asyncpg otherwise.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": meta,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            # 8793/8794 are the defaults: another deployment on this machine may hold them.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        }
        if self.with_lineage_store:
            env["AIRFLOW_CONN_LINEAGE_DEFAULT"] = connection_to(self.lineage_url)
            env[lineage_option("outbox_dir")] = str(self.outbox)
        env.update(self.extra_env)
        return env

    @property
    def outbox(self) -> Path:
        """Return the lineage outbox folder every task process uses."""
        return self.root / "lineage-outbox"

    # --- life cycle --------------------------------------------------------------------

    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Create the databases, migrate, start the services and wait until all are healthy.

        :raises DeploymentError: a step failed or timed out (with the services' log tails).
        """
        t0 = time.monotonic()
        self.prepare()
        for service in SERVICES:
            self._spawn(service)
        self.wait_healthy(deadline=t0 + self.start_timeout)
        self._token = self._get_token()
        self.timings["start_s"] = time.monotonic() - t0

    def prepare(self) -> None:
        """Create the folders and databases, migrate them; start no service.

        :raises DeploymentError: migrating a database failed or timed out.
        """
        t0 = time.monotonic()
        for folder in (self.home, self.dags_folder, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        for path in self.dags:
            (self.dags_folder / path.name).symlink_to(path)
        self.env = self._environment()
        # Should the caller never reach stop() (an interrupted run), still end every
        # process and drop the databases when the interpreter exits.
        atexit.register(self._stop_quietly)
        _pg_admin(f'CREATE DATABASE "{self.metadata_db}"')
        self._databases.append(self.metadata_db)
        if not self.with_lineage_store:
            _run(
                [str(BIN / "airflow"), "db", "migrate"],
                self.env,
                "airflow db migrate",
                timeout=self.start_timeout,
            )
            self.timings["migrate_s"] = time.monotonic() - t0
            return
        from sqlalchemy.engine import make_url

        # The store and its owner as docker/postgres/init.sql makes them: the owner creates
        # the account roles (CREATEROLE) and opens the store unrestricted to grant them
        # (BYPASSRLS); no one else may connect until given CONNECT.
        owner_password = make_url(self.lineage_admin_url).password
        self._roles += [f"lineage_acct_{self.account}", self.lineage_owner]
        _pg_admin(
            f'CREATE ROLE "{self.lineage_owner}" LOGIN CREATEROLE BYPASSRLS '
            f"PASSWORD '{owner_password}'"
        )
        _pg_admin(f'CREATE DATABASE "{self.lineage_db}" OWNER "{self.lineage_owner}"')
        self._databases.append(self.lineage_db)
        _pg_admin(f'REVOKE ALL ON DATABASE "{self.lineage_db}" FROM PUBLIC')
        prepare_lineage_store(
            self.lineage_admin_url,
            self.account,
            str(make_url(self.lineage_url).password),
            self.env,
            timeout=self.start_timeout,
        )
        self.timings["migrate_s"] = time.monotonic() - t0

    def _spawn(self, service: str) -> None:
        log = open(self.logs / f"{service}.log", "ab")  # noqa: SIM115 (the child owns it)
        try:
            self.procs[service] = subprocess.Popen(
                [str(BIN / "airflow"), *service.split()],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends the whole tree
            )
        finally:
            log.close()

    def wait_healthy(self, deadline: float) -> None:
        """Wait until the metadata DB, scheduler and dag-processor report healthy.

        :raises DeploymentError: a service exited, or the deadline passed.
        """
        last: object = "no answer"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                health = self._request("GET", "/api/v2/monitor/health", auth=False)
            except (OSError, DeploymentError) as e:
                last = e
            else:
                last = health
                # dag_processor is reported only by versions that track it.
                wanted = ["metadatabase", "scheduler"]
                wanted += ["dag_processor"] if "dag_processor" in health else []
                if all((health.get(k) or {}).get("status") == "healthy" for k in wanted):
                    return
            time.sleep(1)
        raise DeploymentError(f"the services were not healthy in time: {last}\n{self.log_tails()}")

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise DeploymentError(
                    f"airflow {name} exited with {proc.returncode}\n{self.log_tails()}"
                )

    def restart_scheduler(self, env: Mapping[str, str]) -> None:
        """Restart the scheduler (so every later task process) with ``env`` changed.

        :param env: variables to set; a value of ``""`` removes the variable.
        """
        self._stop_services(["scheduler"])
        for key, value in env.items():
            if value == "":
                self.env.pop(key, None)
            else:
                self.env[key] = value
        self._spawn("scheduler")
        self.wait_healthy(deadline=time.monotonic() + self.start_timeout)

    def stop(self) -> None:
        """Stop every process tree, check none survives, drop the databases.

        :raises DeploymentError: a process of the deployment could not be ended.
        """
        t0 = time.monotonic()
        self._stop_services(list(self.procs))
        survivors = self.survivors()
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.survivors() and time.monotonic() < deadline:
            time.sleep(0.2)
        left = self.survivors()
        for db in self._databases:
            _pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self._databases.clear()
        for role in self._roles:  # roles are cluster-wide: after their databases
            _pg_admin(f'DROP ROLE IF EXISTS "{role}"')
        self._roles.clear()
        self.timings["stop_s"] = time.monotonic() - t0
        if left:
            raise DeploymentError(f"processes of deployment {self.id} survived: {left}")
        shutil.rmtree(self.root, ignore_errors=True)

    def _stop_quietly(self) -> None:
        with contextlib.suppress(Exception):
            if self.procs or self._databases or self._roles or self.survivors():
                self.stop()

    def _stop_services(self, services: list[str]) -> None:
        """Stop services' process groups (and any descendant that left them), together."""
        import psutil

        procs = [p for p in (self.procs.pop(s, None) for s in services) if p is not None]
        family: list[int] = []
        for proc in procs:
            family.append(proc.pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                family += [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        while time.monotonic() < deadline and any(psutil.pid_exists(p) for p in family):
            time.sleep(0.2)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    def survivors(self) -> list[int]:
        """Return the processes of this deployment still alive (none after :meth:`stop`)."""
        return _marked_pids(self.id)

    def log_tails(self, lines: int = 40) -> str:
        """Return the last lines of every service's log, for an error message."""
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name} (last {len(text)} lines) ---\n" + "\n".join(text))
        return "\n".join(parts)

    # --- the REST API ------------------------------------------------------------------

    def _get_token(self) -> str:
        generated = self.home / "simple_auth_manager_passwords.json.generated"
        deadline = time.monotonic() + 60
        while not generated.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        passwords = json.loads(generated.read_text())
        user, password = next(iter(passwords.items()))
        answer = self._request(
            "POST", "/auth/token", {"username": user, "password": password}, auth=False
        )
        return str(answer["access_token"])

    def _request(
        self, method: str, path: str, body: object = None, *, auth: bool = True
    ) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:2000]
            raise DeploymentError(f"{method} {path}: HTTP {e.code}: {detail}") from e
        return json.loads(raw) if raw else {}

    def api(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        """Call the REST API (``/api/v2/...``) with the admin's token; return the JSON.

        :raises DeploymentError: the API answered with an error status.
        """
        return self._request(method, path, body)

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 240) -> None:
        """Wait until the dag-processor has parsed every DAG.

        :raises DeploymentError: a DAG file failed to import, or the timeout passed.
        """
        missing = set(dag_ids)
        deadline = time.monotonic() + timeout
        while missing and time.monotonic() < deadline:
            self._check_alive()
            errors = self.api("GET", "/api/v2/importErrors?limit=100").get("import_errors", [])
            if errors:
                details = "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in errors)
                raise DeploymentError(f"DAG import errors:\n{details}")
            for dag_id in sorted(missing):
                with contextlib.suppress(DeploymentError):
                    self.api("GET", f"/api/v2/dags/{dag_id}")
                    missing.discard(dag_id)
            if missing:
                time.sleep(1)
        if missing:
            raise DeploymentError(
                f"DAGs not parsed within {timeout:.0f} s: {sorted(missing)}\n{self.log_tails()}"
            )

    def unpause(self, dag_id: str) -> None:
        """Unpause a DAG."""
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, Any] | None = None) -> None:
        """Create a DAG run now."""
        body = {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf or {})}
        self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def wait_for_runs(
        self, dag_id: str, run_ids: Iterable[str], timeout: float = 600
    ) -> dict[str, str]:
        """Wait until every run has finished; return run id → state.

        :raises DeploymentError: a service exited, or a run was still going at the timeout.
        """
        wanted = set(run_ids)
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            self._check_alive()
            runs = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=1000")["dag_runs"]
            states = {r["dag_run_id"]: r["state"] for r in runs if r["dag_run_id"] in wanted}
            if len(states) == len(wanted) and all(
                s in ("success", "failed") for s in states.values()
            ):
                return states
            time.sleep(2)
        raise DeploymentError(
            f"runs of {dag_id} not finished within {timeout:.0f} s: {states}\n{self.log_tails()}"
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return the run's task instances as the API gives them (state, duration, ...)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=1000"
        return list(self.api("GET", path)["task_instances"])
