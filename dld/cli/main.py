"""Top-level click group and ``dld serve``."""

from __future__ import annotations

import logging
import sys

import click

from .. import config as config_mod
from ..errors import DldError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dld")
def cli() -> None:
    """dld: a download daemon that fills local buckets from URLs, URL templates and cloud buckets."""


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


def main() -> None:
    cli()
