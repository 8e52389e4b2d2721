"""Face detection jobs on stored video: analysed frames per second at the default sample rate.

    python bench/bench_video.py [--fps 5] [--attributes DEFAULT|ALL] [--clips a.mp4,b.mov]

Each clip (default: the 640x360 clips of ../shared/data/videos, or $FACELENS_TEST_DATA/videos) is stored in a
temporary $FACELENS_HOME and run as a StartFaceDetection job; the time from Start until the job is SUCCEEDED
(decode + analysis + storing the results) is divided into the number of frames analysed. Models are loaded (and
warmed on one job) before timing. Also prints the decode-only rate (every frame decoded, sampled frames converted
to RGB, per sampled frame) to show what the analysis costs. Target (issue 6): >= 15 analysed frames/s at 640x360 on 2 cores.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import facelens
from facelens.video import DEFAULT_SAMPLE_FPS, reader

DATA = Path(os.environ.get("FACELENS_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CLIPS = ["pyfeat_WolfgangLanger_Pexels.mp4", "fr_short_hamilton_clip.mp4", "pyfeat_single_face.mp4"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=DEFAULT_SAMPLE_FPS, help="analysed frames per second of video")
    ap.add_argument("--attributes", default="DEFAULT", choices=["DEFAULT", "ALL"])
    ap.add_argument("--clips", default=",".join(CLIPS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        client = facelens.Client(home=home, video_sample_fps=args.fps)
        clips = [c for c in args.clips.split(",") if c]
        for name in clips:
            client.store.put("bench", name, (DATA / "videos" / name).read_bytes())
        warm = client.start_face_detection(Video={"S3Object": {"Bucket": "bench", "Name": clips[-1]}})["JobId"]
        client.wait_for_video_job(warm)
        print(f"sample rate {args.fps:g} frames/s, FaceAttributes={args.attributes}, cpu count {os.cpu_count()}")
        print("| clip | size | duration s | analysed frames | faces | job s | analysed frames/s | decode-only, sampled frames/s |")
        print("|---|---|---|---|---|---|---|---|")
        for name in clips:
            path = DATA / "videos" / name
            t0 = time.perf_counter()
            decoded = sum(1 for _ in reader.sample_frames(path, args.fps))
            decode_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            job = client.start_face_detection(Video={"S3Object": {"Bucket": "bench", "Name": name}},
                                              FaceAttributes=args.attributes)["JobId"]
            status = client.wait_for_video_job(job, poll=0.01)
            elapsed = time.perf_counter() - t0
            progress = client.video_job_progress(job)
            resp = client.get_face_detection(JobId=job)
            meta = resp.get("VideoMetadata", {})
            frames = progress["FramesDone"]
            print(f"| {name} | {meta.get('FrameWidth')}x{meta.get('FrameHeight')} | "
                  f"{meta.get('DurationMillis', 0) / 1000:.1f} | {frames} | {len(resp.get('Faces', []))} | "
                  f"{elapsed:.2f} | {frames / elapsed:.1f} | {decoded / decode_s:.0f} |"
                  + ("" if status == "SUCCEEDED" else f" {status}"))
        client.close()


if __name__ == "__main__":
    main()
