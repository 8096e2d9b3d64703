"""Top-level click group, ``dld serve``, and where the client commands are attached (with their AIS aliases).

Command tree (AIS spellings kept as aliases, reference §4.1)::

    dld serve                                  run the daemon
    dld download SRC DST   | dld start download | dld job start download
    dld show job [download] [JOB_ID]           | dld job show ...
    dld stop [download] [JOB_ID]               | dld job stop ...
    dld job rm [download] [JOB_ID]
    dld wait [download] JOB_ID                 | dld job wait ...
    dld bucket create|ls|rm, dld ls, dld get, dld object get|rm

Errors from the daemon (``DaemonError``) and an unreachable daemon (``DaemonUnreachable``) are turned into
``Error: ...`` + exit code 1 here, once, for every command.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from .. import config as config_mod
from ..errors import DldError
from .buckets import bucket_group, get_object, list_objects, object_group
from .client import DEFAULT_ENDPOINT, DaemonError, DaemonUnreachable
from .context import CliState
from .jobs import remove_job, show_job, stop_job, wait_job
from .start import download


class _Root(click.Group):
    """The root group: translates client errors into click errors for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DaemonError as e:
            raise click.ClickException(e.message) from None
        except DaemonUnreachable as e:
            raise click.ClickException(
                f"cannot reach the dld daemon at {e.endpoint} ({e.reason}). Is it running? "
                "Start it with 'dld serve' (or 'make run'), or point --endpoint / DLD_ENDPOINT at it.") from None


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dld")
@click.option("--endpoint", envvar="DLD_ENDPOINT", default=DEFAULT_ENDPOINT, show_default=True, metavar="URL",
              help="The daemon to talk to (env DLD_ENDPOINT).")
@click.pass_context
def cli(ctx: click.Context, endpoint: str) -> None:
    """dld: a download daemon that fills local buckets from URLs, URL templates and cloud buckets.

    Shell completion (bash): eval "$(_DLD_COMPLETE=bash_source dld)"; zsh: zsh_source; fish: fish_source.
    """
    ctx.obj = CliState(endpoint=endpoint)


@cli.command()
@click.option("--listen", help="HOST:PORT to serve the API on (default 127.0.0.1:8080; port 0 picks a free one).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the journal and default mountpath live.")
@click.option("--mountpath", "mountpaths", multiple=True, type=click.Path(file_okay=False),
              help="A directory (disk) to store objects on; repeat for several. Default: DATA_DIR/mp0.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="TOML settings file.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="Extra CA bundle to trust for origins.")
@click.option("--transfers-per-mountpath", type=int, help="Concurrent transfers per mountpath (default 16).")
def serve(listen: str | None, data_dir: str | None, mountpaths: tuple[str, ...], config_file: str | None,
          ca_file: str | None, transfers_per_mountpath: int | None) -> None:
    """Run the daemon in the foreground until SIGTERM/SIGINT."""
    import trio

    from ..daemon import serve as serve_daemon

    try:
        cfg = config_mod.load(config_file, listen=listen, data_dir=data_dir, mountpaths=mountpaths,
                              ca_file=ca_file, transfers_per_mountpath=transfers_per_mountpath)
    except DldError as e:
        raise click.ClickException(e.message) from None
    logging.basicConfig(level=getattr(logging, cfg.log_level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        trio.run(serve_daemon, cfg)
    except DldError as e:
        raise click.ClickException(e.message) from None


@cli.group("start")
def start_group() -> None:
    """Start a job (AIS spelling: 'start download SRC DST')."""


@cli.group("show")
def show_group() -> None:
    """Show jobs (AIS spelling: 'show job [download] [JOB_ID]')."""


@cli.group("job")
def job_group() -> None:
    """Job commands in AIS's 'ais job ...' spelling: start, show, stop, wait, rm."""


for _group in (cli, start_group):
    _group.add_command(download)
cli.add_command(stop_job)
cli.add_command(wait_job)
show_group.add_command(show_job)
job_group.add_command(start_group)
job_group.add_command(show_job, "show")
job_group.add_command(stop_job)
job_group.add_command(wait_job)
job_group.add_command(remove_job)
cli.add_command(bucket_group)
cli.add_command(list_objects)
cli.add_command(get_object)
cli.add_command(object_group)


def main() -> None:
    # A fixed program name: usage lines and the completion variable (_DLD_COMPLETE) are the same under
    # `python -m dld` as under the `dld` script.
    cli(prog_name="dld")
