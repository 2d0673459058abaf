"""Renders the configuration files of one stack profile into its run folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final

from cli import nginx
from cli.profiles import KAFKA_LIBS, ROOT, Profile

KAFKA_HEAP = "1g"  # 1 GiB of a 24 GiB, 2-core machine: ample for a single broker at our rates.

INFRA = ("mariadb", "redis", "kafka")
APPS = (
    "command_api",
    "query_api",
    "relay",
    "matching",
    "settlement",
    "scheduler",
    "projector",
    "nginx",
)


def _which(name: str, *fallbacks: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in fallbacks:
        if Path(candidate).exists():
            return candidate
    return name


def mariadb_command(p: Profile) -> str:
    """``mariadbd`` with its own data dir, temp dir and port, durable InnoDB defaults, loopback
    only. Its own temp dir: a clean-up of the shared ``/tmp`` deleted an on-disk temporary table
    under a running query (the 1M pipeline run's final check, 2026-12-02)."""
    args = [
        _which("mariadbd", "/usr/sbin/mariadbd"),
        "--no-defaults",
        f"--datadir={p.run_dir / 'mariadb-data'}",
        f"--tmpdir={p.run_dir / 'mariadb-tmp'}",
        f"--socket={p.mariadb_socket}",
        f"--port={p.mariadb_port}",
        "--bind-address=127.0.0.1",
        "--user=root",
        f"--pid-file={p.run_dir / 'mariadb.pid'}",
        "--skip-name-resolve",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_bin",
        "--innodb-flush-log-at-trx-commit=1",
        f"--innodb-buffer-pool-size={MARIADB_BUFFER_POOL}",
        "--innodb-log-file-size=512M",
        "--max-connections=1200",
        "--max-allowed-packet=64M",
    ]
    return " ".join(args)


MARIADB_BUFFER_POOL: Final = "6G"
"""InnoDB's page cache. At 1 GiB it was full at ~290,000 orders of the pipeline benchmark
(~600 bytes per stored event with its indexes, ~5.7 events per order), after which the data
files' writes per event climbed from 0 to ~1,800 bytes and MariaDB's CPU per order tripled
over a 1M-order run. At 4 GiB the 1M run with the pulling flow (~7 events per order) filled it
in its last ~100k orders (resident 4.3 GB), where MariaDB's CPU per order jumped 254 -> 326 µs;
6 GiB holds the whole run. Pages are allocated as they are first used, so a small stack stays
small (the test suite's stack: ~1 GB resident)."""


REDIS_AOF_REWRITE: Final = (
    "--auto-aof-rewrite-percentage 400",
    "--auto-aof-rewrite-min-size 1gb",
)
"""When Redis rewrites its AOF: a rewrite is a forked child serializing the whole data set
(~10 ns of CPU per byte of it, on the same cores), and the AOF grows ~1.7 kB per order for
~1 kB of data set. At Redis's default (rewrite at twice the last rewrite's size, from 64 MB)
each order's data is rewritten ~3 times as the data set grows: ~20 µs of CPU per order. At
4x (5x the size, from 1 GB) a 150k-order run never rewrites and a 1M-order run once; the
price is disk (up to 5x the data set) and a longer replay when Redis restarts."""


REDIS_ENCODINGS: Final = (
    "--zset-max-listpack-entries 32",
    "--hash-max-listpack-entries 32",
)
"""Zsets and hashes of more than 32 members as skip lists and hash tables, not listpacks (Redis's
default: up to 128). A listpack finds a member (and a zset member its place) by scanning it
whole: on the pipeline's messages a user's order indexes (``uo:``, 60 members on average), the
book's levels (``bk:``) and their quantities (``bq:``, ``HINCRBY``) made ~35 % of Redis's
instructions, most of it those scans. Redis instructions per order 209k -> 160k (-24 %; zsets
alone 173k) replaying the projector's script calls of 18.7k orders in a private redis-server
under callgrind; its CPU for those of 53k orders 2.98 -> 2.48 s (mean of 3 alternating pairs,
-13 to -24 % each); its memory 22.0 -> 24.9 MB for the 18.7k orders (+13 %)."""


def redis_command(p: Profile) -> str:
    """Redis with AOF (fsync every second); projections keep their checkpoints in it."""
    return " ".join(
        [
            _which("redis-server", "/usr/bin/redis-server"),
            f"--port {p.redis_port}",
            "--bind 127.0.0.1",
            f"--dir {p.run_dir / 'redis-data'}",
            "--appendonly yes",
            "--appendfsync everysec",
            *REDIS_AOF_REWRITE,
            *REDIS_ENCODINGS,
            '--save ""',
            "--daemonize no",
            f"--pidfile {p.run_dir / 'redis.pid'}",
        ]
    )


KAFKA_JVM_OPTIONS: Final = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)
"""The broker's JVM options besides its heap (compose.yaml's ``KAFKA_JVM_PERFORMANCE_OPTS`` too).
C1 only (``TieredStopAtLevel=1``): on a fresh broker the C2 compiler thread was ~45 % of Kafka's
CPU through a 100k-order run (and still compiling after six); C1's code cost the request threads
~3.5 % more. Kafka per order 99 -> 58 µs (session 12, docs/benchmarks.md)."""


def kafka_command(p: Profile) -> str:
    """The official Kafka broker+controller (KRaft combined mode) on its jars."""
    java = _which("java", "/usr/bin/java")
    return " ".join(
        [
            java,
            f"-Xms{KAFKA_HEAP}",
            f"-Xmx{KAFKA_HEAP}",
            *KAFKA_JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={ROOT / 'deploy' / 'kafka' / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={p.logs}",
            "-cp",
            f"'{KAFKA_LIBS}/*'",
            "kafka.Kafka",
            str(p.run_dir / "kafka.properties"),
        ]
    )


def kafka_properties(p: Profile) -> str:
    """A single-node KRaft broker+controller on loopback; every internal topic at RF 1."""
    return f"""# Rendered by `exchange up` for profile {p.name}; edit cli/configs.py instead.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{p.kafka_controller_port}
listeners=PLAINTEXT://127.0.0.1:{p.kafka_port},CONTROLLER://127.0.0.1:{p.kafka_controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{p.kafka_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={p.run_dir / "kafka-data"}
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=4
log.retention.hours=168
log.cleaner.dedupe.buffer.size=33554432
"""


def nginx_conf(p: Profile) -> str:
    """nginx in front of both APIs, the docs and the web UI (``cli/nginx.py``: the same text as
    compose's ``deploy/nginx/compose.conf``, with this profile's ports and folders)."""
    site = nginx.Site(
        listen=f"127.0.0.1:{p.nginx_port}",
        command_api=f"127.0.0.1:{p.command_api_port}",
        query_api=f"127.0.0.1:{p.query_api_port}",
        web_root=str(ROOT / "web"),
        docs_page=str(nginx.DOCS_PAGE),
        pid=str(p.run_dir / "nginx.pid"),
        error_log=str(p.logs / "nginx-error.log"),
        temp_dir=str(p.run_dir / "nginx"),
        user="root" if os.geteuid() == 0 else None,
        max_open_files=nginx.open_files_limit(),
    )
    return f"daemon off;\n{nginx.render(site)}"


def _program(
    name: str,
    command: str,
    p: Profile,
    *,
    env: dict[str, str] | None = None,
    priority: int = 50,
    stopwait: int = 15,
) -> str:
    env_line = ""
    if env:
        env_line = "environment=" + ",".join(f'{k}="{v}"' for k, v in env.items()) + "\n"
    return f"""
[program:{name}]
command={command}
directory={ROOT}
autostart=false
autorestart=true
startsecs=1
startretries=20
stopsignal=TERM
stopwaitsecs={stopwait}
stopasgroup=true
killasgroup=true
priority={priority}
redirect_stderr=true
stdout_logfile={p.logs / (name + ".log")}
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=2
{env_line}"""


def supervisord_conf(p: Profile) -> str:
    """supervisord owns every process of the stack and restarts any that dies."""
    python = ROOT / ".venv" / "bin" / "python"
    base_env = p.service_env()
    programs = [
        _program("mariadb", mariadb_command(p), p, priority=10, stopwait=60),
        _program("redis", redis_command(p), p, priority=10),
        _program("kafka", kafka_command(p), p, priority=10, stopwait=60),
        _program(
            "command_api",
            f"{python} -m command_api",
            p,
            priority=30,
            env={**base_env, "EXCHANGE_PORT": str(p.command_api_port)},
        ),
        _program(
            "query_api",
            f"{python} -m query_api",
            p,
            priority=30,
            env={**base_env, "EXCHANGE_PORT": str(p.query_api_port)},
        ),
        _program("relay", f"{python} -m workers.relay", p, priority=40, env=base_env),
        *(
            _program(
                worker,
                f"{python} -m workers.{worker}",
                p,
                priority=40,
                env={**base_env, "EXCHANGE_OPS_PORT": str(p.ops_port(worker))},
            )
            for worker in ("matching", "settlement", "scheduler", "projector")
        ),
        _program(
            "nginx",
            f"{_which('nginx', '/usr/sbin/nginx')} -c {p.run_dir / 'nginx.conf'}",
            p,
            priority=50,
        ),
    ]
    return f"""; Rendered by `exchange up` for profile {p.name}; edit cli/configs.py instead.
[unix_http_server]
file={p.run_dir / "supervisor.sock"}
chmod=0700

[supervisord]
logfile={p.logs / "supervisord.log"}
pidfile={p.run_dir / "supervisord.pid"}
childlogdir={p.logs}
directory={ROOT}
identifier=exchange-{p.name}
nodaemon=false
minfds={nginx.open_files_limit()}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{p.run_dir / "supervisor.sock"}
{"".join(programs)}"""


def render_all(p: Profile) -> None:
    """Write every config file of the profile (cheap; done on every ``up``)."""
    for folder in ("logs", "redis-data", "kafka-data", "nginx", "mariadb-tmp"):
        (p.run_dir / folder).mkdir(parents=True, exist_ok=True)
    (p.run_dir / "kafka.properties").write_text(kafka_properties(p))
    (p.run_dir / "nginx.conf").write_text(nginx_conf(p))
    (p.run_dir / "supervisord.conf").write_text(supervisord_conf(p))
