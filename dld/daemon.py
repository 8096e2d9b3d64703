"""Wiring and lifetime: open the store and the journal, start the engine, the job registry and the API.

``serve`` runs until SIGTERM/SIGINT. On a signal it stops accepting requests, stops dispatching, gives running
transfers ``shutdown_grace_s`` to finish, cancels the rest (their temp files and resume state stay, and their jobs
resume after a restart), flushes the journal, and returns, so the process exits 0 (systemd's
``Restart=on-failure`` does not restart a clean stop).
"""

from __future__ import annotations

import logging
import os
import signal
import ssl
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio

from ._fast.sink import configure_hashing
from .api.routes import make_router
from .api.server import serve_connection
from .config import Config
from .jobs.journal import Journal
from .jobs.registry import Registry
from .store.local import Store
from .transfer.curl_trio import CurlTrio
from .wire import new_xaction_id

log = logging.getLogger("dld")


@dataclass(eq=False)
class Daemon:
    """What request handlers reach: passed explicitly, never a module global."""

    config: Config
    store: Store
    journal: Journal
    registry: Registry
    engine: CurlTrio


def ca_bundle(config: Config) -> str:
    """The CA file for origins: the system store, plus ``ca_file`` when set (CAINFO replaces, so we concatenate)."""
    if not config.ca_file:
        return ""
    system = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    out = config.data_dir / "ca-bundle.pem"
    parts = []
    if os.path.exists(system):
        parts.append(Path(system).read_bytes())
    parts.append(Path(config.ca_file).read_bytes())
    out.write_bytes(b"\n".join(parts))
    return str(out)


async def serve(config: Config, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    configure_hashing(config.hash_threads)
    store = Store(list(config.effective_mountpaths), fsync=config.fsync)
    journal = Journal(config.journal_path)
    engine = CurlTrio()
    registry = Registry(config, store, journal, engine, xaction_id=new_xaction_id(), cainfo=ca_bundle(config))
    daemon = Daemon(config, store, journal, registry, engine)
    route = make_router(daemon)
    host, port = config.listen_host_port
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(engine.run)
            await nursery.start(registry.run)
            api_scope = trio.CancelScope()

            async def api(task_status: trio.TaskStatus[list[trio.SocketListener]]) -> None:
                with api_scope:
                    await trio.serve_tcp(partial(_conn, route=route, max_body=config.max_body_bytes), port,
                                         host=host, task_status=task_status)

            listeners = await nursery.start(api)
            bound = listeners[0].socket.getsockname()
            addr = (bound[0], bound[1])
            (config.data_dir / "listen.addr").write_text(f"{addr[0]}:{addr[1]}\n")
            log.info("dld: listening on http://%s:%d, data dir %s", addr[0], addr[1], config.data_dir)
            task_status.started(addr)
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    log.info("dld: %s received, shutting down", signal.Signals(signum).name)
                    break
            api_scope.cancel()  # stop taking requests
            await registry.shutdown(config.shutdown_grace_s)
            nursery.cancel_scope.cancel()
    finally:
        journal.close()


async def _conn(stream: trio.SocketStream, *, route, max_body: int) -> None:  # noqa: ANN001
    await serve_connection(stream, route, max_body)
