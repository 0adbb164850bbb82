"""Ingestion of a folder or list of reports as a Ray job (many machines on an existing engine).

Each Ray task runs the CLI's own per-report path (``ingest_paths`` on one report's files, staged):
parse, check, embed, and write the report's Parquet part into a staging folder of the index (on
storage every worker sees). With a Chroma server (``FISCALQA_CHROMA_URL``) the task also upserts the
part's vectors; they stay invisible until a manifest names the part. The driver then commits every
staged part as one new version (``store.commit_staged``): a failed or killed job leaves the previous
version answering. ``ray.init()`` starts a local Ray when no cluster address is given.

    python -m assistant.ray_ingest ../shared/reports --index indexes [--address ray://head:10001]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from assistant.ingest import IngestResult, collect_files, group_files

log = logging.getLogger(__name__)


def _stage_report(files: list[str], index_dir: str, embedder: Any = None) -> IngestResult:
    """One Ray task: the CLI's ingest of one report's files, staged (not live)."""
    from assistant.ingest import ingest_paths

    return ingest_paths([Path(f) for f in files], Path(index_dir), show_progress=False, embedder=embedder, stage_only=True)


def ingest_with_ray(
    paths: list[Path],
    index_dir: Path,
    *,
    embedder: Any = None,
    address: str | None = None,
    num_cpus: int | None = None,
    keep_versions: int | None = None,
) -> IngestResult:
    """Ingest report files/folders into ``index_dir`` with one Ray task per report, committed as one version."""
    import ray

    from assistant.store import StagedIngest, commit_staged

    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    groups = group_files(collect_files(paths))
    started = False
    if not ray.is_initialized():
        # workers import this package as the driver does
        env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}} if address is None else None
        ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, runtime_env=env)
        started = True
    try:
        task = ray.remote(_stage_report)
        refs = [task.remote([str(f) for f in g], str(index_dir.resolve()), embedder) for g in groups]
        results: list[IngestResult] = ray.get(refs)
        out = IngestResult()
        staged = []
        for r in results:
            out.reports += r.reports
            out.failures += r.failures
            if r.staged is not None:
                staged.append(r.staged)
        if staged:
            out.index_version = commit_staged(index_dir, StagedIngest.merge(staged), keep_versions=keep_versions)
        return out
    finally:
        if started:
            ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--index", type=Path, default=Path(os.environ.get("FISCALQA_INDEX", "indexes")))
    ap.add_argument("--address", help="a Ray cluster (default: start a local one)")
    ap.add_argument("--num-cpus", type=int)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    res = ingest_with_ray(args.paths, args.index, address=args.address, num_cpus=args.num_cpus)
    for s in res.reports:
        log.info("%s", s.line())
    for f in res.failures:
        log.error("could not ingest %s: %s", f.path, f.reason)
    log.info("%d reports ingested into %s, %d failed", len(res.reports), args.index, len(res.failures))
    return 0 if res.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
