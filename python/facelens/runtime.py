"""``Runtime``: the services of one facelens process, built from ``Settings`` when first needed.

The client (and the HTTP endpoint, the CLI, a job worker) asks the runtime for what it needs: the engine (the
networks, loaded once), the database, the object store, and the services over them (collections, the celebrity
gallery, video jobs). Each part is built once, on first use, under one lock, so DetectFaces alone never opens the
database and a job worker builds only what its job uses.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Tuple

from . import contract, images
from .settings import Settings

if TYPE_CHECKING:
    from .celebrities import CelebrityGallery
    from .jobs.local import JobRunner
    from .objects.local import ObjectStore
    from .objects.s3 import S3ObjectStore
    from .pagination import Tokens
    from .pipeline import Engine
    from .services.collections import Collections
    from .storage import Database
    from .video.service import VideoJobs


class Runtime:
    def __init__(self, settings: Settings, video_runner: Any = None) -> None:
        self.settings = settings
        self._video_runner = video_runner
        self._lock = threading.RLock()
        self._parts: Dict[str, Any] = {}

    def _part(self, name: str, build: Callable[[], Any]) -> Any:
        part = self._parts.get(name)
        if part is None:
            with self._lock:
                part = self._parts.get(name)
                if part is None:
                    part = self._parts[name] = build()
        return part

    # -- the parts ------------------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        def build() -> Engine:
            from .pipeline import Engine

            return Engine(threads=self.settings.threads, detector_max_side=self.settings.detector_max_side,
                          precision=self.settings.precision, providers=self.settings.providers,
                          first_look=self.settings.detector_first_look)

        return self._part("engine", build)

    @property
    def objects(self) -> ObjectStore | S3ObjectStore:
        def build() -> ObjectStore | S3ObjectStore:
            from .objects import open_object_store

            return open_object_store(self.settings)

        return self._part("objects", build)

    @property
    def database(self) -> Database:
        def build() -> Database:
            from .storage import open_database

            return open_database(self.settings.database_url, self.settings.database_timeout)

        return self._part("database", build)

    @property
    def tokens(self) -> Tokens:
        def build() -> Tokens:
            from .pagination import Tokens
            from .storage import token_secret

            return Tokens(token_secret(self.database))

        return self._part("tokens", build)

    def collections(self, region: str) -> Collections:
        """The collections service of a region (each region's collections, users and tags are its own)."""
        def build() -> Collections:
            from .collections import FACE_MODEL_VERSION
            from .services.collections import Collections
            from .storage.collections import CollectionStore

            return Collections(CollectionStore(self.database, FACE_MODEL_VERSION, region), lambda: self.engine,
                               self.image_bytes, self.tokens, self.settings.account_id)

        return self._part(f"collections:{region}", build)

    def celebrities(self, region: str) -> CelebrityGallery:
        """The celebrity gallery of a region."""
        def build() -> CelebrityGallery:
            from .celebrities import CelebrityGallery
            from .storage.celebrities import CelebrityStore

            return CelebrityGallery(CelebrityStore(self.database, region), lambda: self.engine, self.image_bytes)

        return self._part(f"celebrities:{region}", build)

    @property
    def job_runner(self) -> JobRunner:
        """Where video jobs run (one for every region): the runner given, a Ray actor pool (``job_runner="ray"``),
        or a pool of threads in this process."""
        def build() -> JobRunner:
            if self._video_runner is not None:
                return self._video_runner
            if self.settings.job_runner == "ray":
                from .jobs.ray_runner import RayJobRunner

                return RayJobRunner(self.settings, self.settings.ray_address)
            from .jobs import run_job
            from .jobs.local import LocalJobRunner

            return LocalJobRunner(lambda spec, stop: run_job(spec, runtime=self, stop=stop),
                                  self.settings.video_workers)

        return self._part("job_runner", build)

    def video(self, region: str) -> VideoJobs:
        """The video jobs of a region."""
        def build() -> VideoJobs:
            from .storage.jobs import JobStore
            from .video.notify import Notifier
            from .video.service import VideoJobs

            return VideoJobs(JobStore(self.database, region), self.objects, lambda: self.engine, self.tokens,
                             self.settings.video_sample_fps, self.job_runner,
                             notifications=Notifier.from_settings(self.settings), collections=lambda: self.collections(region),
                             gallery=lambda: self.celebrities(region), lease_s=self.settings.job_lease_s)

        return self._part(f"video:{region}", build)

    def use_engine(self, engine: Any) -> None:
        """Shares an engine already loaded (by another client of this process) instead of loading one."""
        with self._lock:
            self._parts["engine"] = engine

    # -- request images -------------------------------------------------------------------------------------
    def image_bytes(self, image: Dict[str, Any]) -> Tuple[bytes, int]:
        """(bytes, size limit) of a request's Image: Bytes as given, or the S3Object from the object store."""
        kind, value = contract.image_source(image)
        if kind == "Bytes":
            return bytes(value), images.MAX_BYTES
        return self.objects.read(value, images.MAX_S3_BYTES), images.MAX_S3_BYTES

    def load_image(self, image: Dict[str, Any]) -> images.DecodedImage:
        data, limit = self.image_bytes(image)
        return images.decode(data, max_bytes=limit)

    def close(self) -> None:
        """Stops the video jobs of this process (FAILED), drops every part and releases the database."""
        with self._lock:
            parts, self._parts = self._parts, {}
        for name, part in parts.items():
            if name.startswith("video:"):
                part.close()
        runner = parts.get("job_runner")
        if runner is not None:
            runner.shutdown(wait=False)
        database = parts.get("database")
        if database is not None:
            database.close()
