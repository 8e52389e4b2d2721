"""Reading stored videos with PyAV (FFmpeg): the metadata Rekognition reports and the frames facelens analyses.

Sampling: a job analyses at most ``sample_fps`` frames per second of video (``Client(video_sample_fps=...)``,
default :data:`DEFAULT_SAMPLE_FPS`). For k = 0, 1, 2, ... the first decoded frame whose presentation time is at
or after k / sample_fps is analysed (each frame at most once), so a 30 fps clip sampled at 5 fps has every 6th
frame analysed, and a clip slower than the sample rate has every frame analysed. Every frame is still decoded
(inter-frame codecs need it), but only analysed frames are converted to RGB.

Timestamps are milliseconds from the start of the video stream (its first frame is 0), as in Rekognition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np

DEFAULT_SAMPLE_FPS = 5.0
MAX_VIDEO_BYTES = 10 * 1024 ** 3  # Rekognition Video's limit for a stored video (10 GB)

# The containers facelens reads (FFmpeg demuxer names). Rekognition accepts MP4 and MOV; AVI, Matroska/WebM,
# MPEG-TS and raw H.264/HEVC streams are read too. Anything else is refused even if FFmpeg can open it: FFmpeg
# reads a JPEG as a one-frame "video" (image2) and any text file as ANSI art (tty).
VIDEO_CONTAINERS = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "avi", "matroska", "webm", "mpegts", "h264",
                              "hevc"})


class NotAVideo(Exception):
    """The file cannot be read as a video; the message is the job's StatusMessage."""


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    format: str
    duration_ms: int
    frame_rate: float
    width: int
    height: int
    color_range: str  # FULL | LIMITED
    frames: int  # as the container says (0 when it does not)

    def metadata(self) -> Dict[str, object]:
        """Rekognition's VideoMetadata."""
        return {
            "Codec": self.codec,
            "DurationMillis": self.duration_ms,
            "Format": self.format,
            "FrameRate": self.frame_rate,
            "FrameHeight": self.height,
            "FrameWidth": self.width,
            "ColorRange": self.color_range,
        }

    def planned_frames(self, sample_fps: float) -> int:
        """How many frames a job will analyse (an estimate when the container does not count its frames)."""
        by_time = int(math.ceil(self.duration_ms / 1000.0 * sample_fps - 1e-6))
        if self.frames > 0:
            return max(1, min(self.frames, by_time))
        return max(1, by_time)


def _open(path: Path) -> Any:
    import av

    try:
        container = av.open(str(path), mode="r")
    except Exception as e:  # av.error.InvalidDataError and friends
        raise NotAVideo(f"Unsupported video format or corrupt file: {_reason(e)}") from None
    names = set(container.format.name.split(","))
    if not names & VIDEO_CONTAINERS:
        kind = container.format.long_name or container.format.name
        container.close()
        raise NotAVideo(f"Unsupported video format ({kind}): MP4, MOV, AVI, MKV/WebM, MPEG-TS, H.264/HEVC are read.")
    if not container.streams.video:
        container.close()
        raise NotAVideo("The file has no video stream.")
    return container


def _reason(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.split(":")[0].strip() if isinstance(text, str) else type(e).__name__


def probe(path: Path) -> VideoInfo:
    """VideoMetadata as the file describes it. NotAVideo if it is not a decodable video."""
    container = _open(path)
    try:
        return _info(container)
    finally:
        container.close()


def _info(container: Any) -> VideoInfo:
    stream = container.streams.video[0]
    cc = stream.codec_context
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000.0
    else:
        duration = 0.0
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    frame_rate = float(rate) if rate else 0.0
    frames = int(stream.frames or 0)
    if frame_rate <= 0 and frames and duration > 0:
        frame_rate = frames / duration
    # AVColorRange: 2 = JPEG (full), 1 = MPEG (limited), 0 = unspecified, which for video means limited.
    color_range = "FULL" if int(getattr(cc, "color_range", 0) or 0) == 2 else "LIMITED"
    return VideoInfo(
        codec=cc.name,
        format=container.format.long_name,
        duration_ms=int(round(duration * 1000.0)),
        frame_rate=round(frame_rate, 3),
        width=int(cc.width),
        height=int(cc.height),
        color_range=color_range,
        frames=frames,
    )


def sample_frames(path: Path, sample_fps: float = DEFAULT_SAMPLE_FPS,
                  stats: Optional[Dict[str, float]] = None) -> Iterator[Tuple[int, np.ndarray]]:
    """Yields (timestamp ms, RGB uint8 [H, W, 3]) for the frames to analyse, in presentation order.
    NotAVideo if the file cannot be opened or decoded. ``stats``, if given, receives "decoded" (frames decoded)
    and "end_ms" (where the last decoded frame ends: the duration of streams whose container does not say)."""
    if not sample_fps > 0:
        raise ValueError("sample_fps must be > 0")
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame/slice threads in FFmpeg's decoder
        tb = stream.time_base
        start = stream.start_time
        step_ms = 1000.0 / sample_fps
        next_ms = 0.0
        last_ms: Optional[float] = None
        decoded = 0
        try:
            for frame in container.decode(stream):
                decoded += 1
                if frame.pts is not None and tb is not None:
                    t_ms = float((frame.pts - (start or 0)) * tb) * 1000.0
                elif last_ms is not None:
                    t_ms = last_ms + 1000.0 / float(stream.guessed_rate or 25)
                else:
                    t_ms = 0.0
                t_ms = max(0.0, t_ms)
                last_ms = t_ms
                if stats is not None:
                    stats["decoded"] = decoded
                    stats["end_ms"] = max(stats.get("end_ms", 0.0), t_ms + 1000.0 / float(stream.guessed_rate or 25))
                if t_ms + 1e-6 < next_ms:
                    continue
                while next_ms <= t_ms + 1e-6:
                    next_ms += step_ms
                yield int(round(t_ms)), frame.to_ndarray(format="rgb24")
        except NotAVideo:
            raise
        except Exception as e:
            if decoded == 0:
                raise NotAVideo(f"The video could not be decoded: {_reason(e)}") from None
            raise NotAVideo(f"The video could not be decoded after frame {decoded}: {_reason(e)}") from None
        if decoded == 0:
            raise NotAVideo("The video has no decodable frames.")
    finally:
        container.close()
