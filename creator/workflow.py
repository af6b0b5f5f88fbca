"""Helpers the Snakefile uses to map config + sample sheet to files (kept here so pytest reaches them)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from creator.config import Sample
from creator.formats import RNASEQ

REFERENCE_KEYS = ("ccres", "genes", "chrom_sizes", "blacklist", "fasta")


def file_suffix(url: str) -> str:
    """The file-type suffix of a url: ".bigWig", ".bed.gz" (a compression suffix keeps the one before)."""
    parts = Path(urlparse(url).path).name.split(".")[1:]
    n = 2 if len(parts) >= 2 and parts[-1] in ("gz", "bgz", "bz2", "zst") else 1
    keep = [p for p in parts[-n:] if p.isalnum()] if parts else []
    return "." + ".".join(keep) if keep else ""


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> str:
    return urlparse(url).path if url.startswith("file://") else url


class Sources:
    """Where the download rule puts each configured file, and where it fetches it from."""

    def __init__(self, config: dict, samples: list[Sample]):
        dl = config["download"]["dir"].rstrip("/")
        self.table: dict[str, dict] = {}
        self.reference: dict[str, str] = {}
        self.tracks: dict[str, dict[str, str]] = {}
        self.expression: dict[str, str] = {}
        for key in REFERENCE_KEYS:
            src = config["reference"].get(key)
            if src:
                self.reference[key] = self._add(f"{dl}/reference/{key}{file_suffix(src['url'])}", src["url"],
                                                src.get("md5"))
        self.evaluate: dict[str, str] = {}
        ev = config.get("evaluate") or {}
        for key in ("crispr", "hic"):
            src = ev.get(key)
            if src:
                url = src["url"]
                suffix = file_suffix(url.split("::")[0])
                self.evaluate[key] = self._add(f"{dl}/evaluate/{key}{suffix}", url.split("::")[0], src.get("md5"))
        self.peers: dict[str, str] = {}
        for peer in ev.get("peers") or []:
            url = peer["url"]
            self.peers[peer["name"]] = self._add(f"{dl}/evaluate/peer_{peer['name']}{file_suffix(url)}", url,
                                                 peer.get("md5"))
        for s in samples:
            path = self._add(f"{dl}/{s.cell_type}/{s.assay}{file_suffix(s.url)}", s.url, s.md5)
            if s.assay == RNASEQ:
                self.expression[s.cell_type] = path
            else:
                self.tracks.setdefault(s.cell_type, {})[s.assay] = path

    def _add(self, path: str, url: str, md5: str | None) -> str:
        self.table[path] = dict(url=url, md5=md5 or "")
        return path

    def groups(self) -> list[str]:
        return sorted({Path(p).parent.name for p in self.table})

    def url(self, path: str) -> str:
        return self.table[path]["url"]

    def md5_arg(self, path: str) -> str:
        md5 = self.table[path]["md5"]
        return f"--md5 {md5}" if md5 else ""

    def local_input(self, path: str) -> list[str]:
        """A local source is a rule input (another rule, e.g. simulate, may make it); a url is not."""
        url = self.url(path)
        return [local_path(url)] if is_local(url) else []

    def verify_downloads(self) -> None:
        """Re-verify every downloaded copy against the md5 recorded when it was fetched (size and
        mtime first, the md5 only when they changed): a copy that changed since (truncated,
        overwritten) stops the run before any job starts, so no rule reads it and no good output
        made from it is deleted to be rebuilt. Raises :class:`creator.errors.InputError`."""
        from creator.download import verify_copy

        for path in self.table:
            if os.path.isfile(path):
                verify_copy(path, adopt=True)

    def local_sources_under(self, prefix: str) -> list[str]:
        prefix = prefix.rstrip("/") + "/"
        return sorted({local_path(s["url"]) for s in self.table.values()
                       if is_local(s["url"]) and local_path(s["url"]).startswith(prefix)})


def setup_environment(basedir: str, *, using_conda: bool) -> None:
    """Let rules run ``python -m creator``: without conda the python running snakemake comes first
    on PATH (the project's .venv); the package is found through PYTHONPATH either way."""
    if not using_conda:
        os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (basedir, os.environ.get("PYTHONPATH")) if p)


def using_conda(workflow) -> bool:
    try:
        from snakemake.settings.types import DeploymentMethod

        return DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    except (ImportError, AttributeError):
        return False


def command_line_config(workflow, config: dict) -> dict:
    """The config the user asked for.

    Snakemake merges ``--configfile`` files *into* the Snakefile's default ``configfile:`` (the
    demo), so keys a user's config leaves out would silently come from the demo (its md5s, its
    blacklist). When config files are given on the command line, they (plus ``--config``
    overrides) replace the default instead, as ``--replace-workflow-config`` would.
    """
    settings = getattr(workflow, "config_settings", None)
    if settings is not None and getattr(settings, "configfiles", None):
        return dict(settings.overwrite_config)
    return config
