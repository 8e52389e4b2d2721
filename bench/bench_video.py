"""Stored-video jobs: analysed frames per second of each job type at the default sample rate.

    python -m bench.bench_video [--fps 5] [--attributes DEFAULT|ALL] [--clips a.mp4,b.mov]
                                [--jobs face-detection,person-tracking,face-search,celebrity-recognition]

Each clip (default: clips of ../shared/data/videos, or $FACELENS_TEST_DATA/videos) is stored in a temporary
$FACELENS_HOME and run as a job of each type (face search: a collection holding one face, Lin-Manuel Miranda's from
images/fr_lin-manuel-miranda.png; celebrity recognition: a gallery holding him); the time from Start until the job is SUCCEEDED
(decode + analysis + storing the results) is divided into the number of frames analysed. Models are loaded (and
warmed on one job) before timing. Also prints the decode-only rate (every frame decoded, sampled frames converted
to RGB, per sampled frame) to show what the analysis costs. Target: >= 15 analysed frames/s at 640x360 on 2 cores.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import facelens
from facelens.video import DEFAULT_SAMPLE_FPS, reader

DATA = Path(os.environ.get("FACELENS_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CLIPS = ["pyfeat_WolfgangLanger_Pexels.mp4", "fr_short_hamilton_clip.mp4", "pyfeat_single_face.mp4",
         "dlib_MOT20-05-raw_even_shorter.mp4", "fnp_video.mp4"]
JOBS = {  # name: (Start method, Get method, items key, extra Start parameters)
    "face-detection": ("start_face_detection", "get_face_detection", "Faces", {}),
    "person-tracking": ("start_person_tracking", "get_person_tracking", "Persons", {}),
    "face-search": ("start_face_search", "get_face_search", "Persons", {"CollectionId": "bench"}),
    "celebrity-recognition": ("start_celebrity_recognition", "get_celebrity_recognition", "Celebrities", {}),
}
REFERENCE_FACE = "images/fr_lin-manuel-miranda.png"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=DEFAULT_SAMPLE_FPS, help="analysed frames per second of video")
    ap.add_argument("--attributes", default="DEFAULT", choices=["DEFAULT", "ALL"])
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--jobs", default=",".join(JOBS))
    args = ap.parse_args()
    jobs = [j for j in args.jobs.split(",") if j]
    with tempfile.TemporaryDirectory() as home:
        client = facelens.Client(home=home, video_sample_fps=args.fps)
        clips = [c for c in args.clips.split(",") if c]
        for name in clips:
            client.store.put("bench", name, (DATA / "videos" / name).read_bytes())
        face = (DATA / REFERENCE_FACE).read_bytes()
        client.create_collection(CollectionId="bench")
        client.index_faces(CollectionId="bench", Image={"Bytes": face}, MaxFaces=1)
        client.celebrities.add(name="Lin-Manuel Miranda", image=face)
        print(f"sample rate {args.fps:g} frames/s, FaceAttributes={args.attributes}, cpu count {os.cpu_count()}")
        print("| job | clip | size | duration s | analysed frames | items | job s | analysed frames/s | decode-only, sampled frames/s |")
        print("|---|---|---|---|---|---|---|---|---|")
        decode_rate = {}
        for job_name in jobs:
            start, get, key, extra = JOBS[job_name]
            if job_name == "face-detection":
                extra = {"FaceAttributes": args.attributes}
            video = {"S3Object": {"Bucket": "bench", "Name": clips[-1]}}
            client.wait_for_video_job(getattr(client, start)(Video=video, **extra)["JobId"])  # warm the models
            for name in clips:
                path = DATA / "videos" / name
                if name not in decode_rate:
                    t0 = time.perf_counter()
                    decoded = sum(1 for _ in reader.sample_frames(path, args.fps))
                    decode_rate[name] = decoded / (time.perf_counter() - t0)
                t0 = time.perf_counter()
                job = getattr(client, start)(Video={"S3Object": {"Bucket": "bench", "Name": name}}, **extra)["JobId"]
                status = client.wait_for_video_job(job, poll=0.01)
                elapsed = time.perf_counter() - t0
                progress = client.video_job_progress(job)
                items, token, meta = 0, None, {}
                while True:
                    page = getattr(client, get)(JobId=job, **({"NextToken": token} if token else {}))
                    meta = page.get("VideoMetadata", {})
                    items += len(page.get(key, []))
                    token = page.get("NextToken")
                    if not token:
                        break
                frames = progress["FramesDone"]
                print(f"| {job_name} | {name} | {meta.get('FrameWidth')}x{meta.get('FrameHeight')} | "
                      f"{meta.get('DurationMillis', 0) / 1000:.1f} | {frames} | {items} | "
                      f"{elapsed:.2f} | {frames / elapsed:.1f} | {decode_rate[name]:.0f} |"
                      + ("" if status == "SUCCEEDED" else f" {status}"))
        client.close()

if __name__ == "__main__":
    main()
