"""Batch analysis: DetectFaces or IndexFaces over many images, one JSON line per image in RESULTS.jsonl.

    import facelens.batch
    facelens.batch.detect_faces("photos/", out="faces.jsonl", attributes=["ALL"])
    facelens.batch.detect_faces("s3://bucket/photos/", out="faces.jsonl", ray="auto")   # on a Ray cluster
    facelens.batch.index_faces("staff/", "staff", out="enrolled.jsonl")                 # bulk enrolment

Each line is ``{"Source": ..., "Response": {...}}`` (the operation's response without ResponseMetadata) or
``{"Source": ..., "Error": {"Code": ..., "Message": ...}}`` (the Rekognition error that image got; the run goes
on). Lines follow the sorted order of the sources whatever the number of workers. Rerunning with the same ``out``
skips the sources it already has: a run killed midway loses at most the line it was writing.

Where the work runs: ``ray=None`` (default) a pool of ``workers`` processes here, each with its own engine of
CPUs / workers threads; ``ray=True`` a Ray cluster (``RAY_ADDRESS``, or a local Ray started for the run),
``ray="ADDRESS"`` the cluster at that address: ``workers`` actors, each with one engine whose threads are the CPUs
Ray gives it (``cpus_per_worker``).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, List, Optional, Union

from .output import ResultsFile, ResultsFileError
from .runners import LocalRunner, RayRunner, cpu_count, run_ordered
from .sources import SourceError, list_sources
from .work import Task, external_image_id


class WorkerLost(RuntimeError):
    """A worker process or Ray actor died (killed, out of memory, node lost) and took its images with it; the
    results written so far stay, and rerunning the same batch does the rest."""


Progress = Callable[[int, int, float], None]  # (images done this run, images to do this run, seconds so far)


def _settings(settings: Any) -> Any:
    if settings is None:
        from ..settings import Settings

        settings = Settings.from_env()
    return settings


def run(task: Task, source: Union[str, os.PathLike], out: Union[str, os.PathLike], *, workers: Optional[int] = None,
        ray: Union[bool, str, None] = None, cpus_per_worker: Optional[int] = None, settings: Any = None,
        progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Runs ``task`` on every image SOURCE names that ``out`` does not have yet; returns a summary (Images,
    Skipped, Written, Errors, Seconds, Runner, Workers)."""
    settings = _settings(settings)
    task.check()
    if workers is not None and workers < 1:
        raise ValueError("workers must be >= 1")
    sources = list_sources(str(source), settings, exclude=out)
    started = time.monotonic()
    with ResultsFile(out) as results:
        todo = [s for s in sources if s not in results.done]
        counts = {"Written": 0, "Errors": 0}

        def write(line: Dict[str, Any]) -> None:
            results.write(line)
            counts["Written"] += 1
            counts["Errors"] += "Error" in line
            if progress is not None:
                progress(counts["Written"], len(todo), time.monotonic() - started)

        if progress is not None:
            progress(0, len(todo), 0.0)
        runner_name, used_workers = "local", 0
        runner: Union[LocalRunner, RayRunner]
        if todo:
            if ray is None or ray is False:
                cpus = cpu_count()
                used_workers = workers or max(1, cpus // min(4, cpus))
                runner = LocalRunner(settings, task, min(used_workers, len(todo)),
                                     threads=max(1, cpus // used_workers))
            else:
                runner_name = "ray"
                runner = RayRunner(settings, task, workers, cpus_per_worker, None if ray is True else str(ray))
                used_workers = runner.workers
            try:
                run_ordered(todo, runner, window=max(4, 4 * used_workers), write=write)
            except Exception as e:
                if not runner.is_lost(e):
                    raise
                raise WorkerLost(f"a {runner_name} worker died during the batch ({type(e).__name__}: {e}); "
                                 f"the {counts['Written']} lines written are in {out}: rerun the same batch "
                                 "to do the rest") from e
            finally:
                runner.close()
    return {"Out": str(out), "Images": len(sources), "Skipped": len(sources) - len(todo), **counts,
            "Seconds": round(time.monotonic() - started, 3), "Runner": runner_name, "Workers": used_workers}


def detect_faces(source: Union[str, os.PathLike], out: Union[str, os.PathLike], attributes: Optional[List[str]] = None,
                 **options: Any) -> Dict[str, Any]:
    """DetectFaces on every image of ``source`` (a folder, a glob, a text file of paths, ``s3://bucket/prefix``),
    one line each in ``out``. ``attributes``: DetectFaces' Attributes (default: DEFAULT). ``options``: ``workers``,
    ``ray``, ``cpus_per_worker``, ``settings`` (a ``facelens.Settings``; default from the environment),
    ``progress`` (called with images done, images to do, seconds)."""
    params = {"Attributes": list(attributes)} if attributes else {}
    return run(Task("DetectFaces", params), source, out, **options)


def index_faces(source: Union[str, os.PathLike], collection_id: str, out: Union[str, os.PathLike],
                attributes: Optional[List[str]] = None, max_faces: Optional[int] = None,
                quality_filter: Optional[str] = None, **options: Any) -> Dict[str, Any]:
    """IndexFaces of every image of ``source`` into ``collection_id`` (bulk enrolment), one line each in ``out``.
    Each image's ExternalImageId is its file name, with characters Rekognition does not allow replaced by ``_``.
    A run killed midway may have indexed the image whose line it was writing: its rerun indexes it again."""
    params: Dict[str, Any] = {"CollectionId": collection_id}
    if attributes:
        params["DetectionAttributes"] = list(attributes)
    if max_faces is not None:
        params["MaxFaces"] = max_faces
    if quality_filter is not None:
        params["QualityFilter"] = quality_filter
    return run(Task("IndexFaces", params), source, out, **options)


__all__ = ["ResultsFileError", "SourceError", "Task", "WorkerLost", "detect_faces", "external_image_id", "index_faces",
           "list_sources", "run"]
