"""Train the face-attribute network (Eyeglasses, Sunglasses, Beard, Mustache, FaceOccluded) and export it to ONNX.

Run in a tools-only venv (torch is never a facelens dependency):
    python3 -m venv /tmp/facelens-train && /tmp/facelens-train/bin/pip install torch==2.13.0 numpy onnx \
        opencv-python-headless
    python tools/attribute_crops.py --out /tmp/facelens-attribute-data          # facelens' own venv
    /tmp/facelens-train/bin/python tools/train_attributes.py --data /tmp/facelens-attribute-data --seed 0

One multi-label network on one aligned crop (ATTRIBUTE_INPUT px, engine/attributes.py), rather than one network per
region: the five attributes need overlapping parts of the face (the eyes for eyewear and occlusion, the lower face for
beard, moustache and masks), one crop and one forward pass cost less than three, and the shared layers see every
sample of every attribute. Labels a sample cannot have (a beard under a mask) are left out of that attribute's loss.

Data (tools/attribute_crops.py, no evaluation photo): the real crops with their by-eye labels
(tools/attribute_labels.tsv, per photo face or video track), and synthetic samples drawn on them
(tools/attribute_synth.py): eyewear in 3-D along the mesh, occluders, facial hair transferred from the real bearded
crops, hard negatives. Split by source file: sources whose sha1 starts with 0, 1 or 2 (3/16) are the CALIBRATION
split (their real and synthetic samples), the rest train. Confidence: Platt scaling per attribute of the mirror-
averaged logit, fitted on the calibration split; the coefficients go into the manifest entry.

Deterministic: numpy Generator(seed) draws the samples, torch.manual_seed(seed), one thread, deterministic
algorithms; a rerun gives the same weights (the ONNX file's sha256 is printed).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
import attribute_synth as synth  # noqa: E402 (a sibling script: tools/ is on the path when run)
from attribute_crops import RESTRICTED_TERMS, allowed, source_terms  # noqa: E402

ATTRIBUTES = ("Eyeglasses", "Sunglasses", "Beard", "Mustache", "FaceOccluded")
LABEL_COLUMNS = ("eyeglasses", "sunglasses", "beard", "mustache", "face_occluded")
INPUT = 80  # engine/attributes.py ATTRIBUTE_INPUT
RECIPES = {"real": 0.13, "real_positive": 0.06, "hard_negative": 0.17, "glasses": 0.16, "sunglasses": 0.08,
           "occluder": 0.15, "facial_hair": 0.21, "strands": 0.04}
# share of facial-hair samples drawn as short hair (attribute_synth.short_beard) rather than moved from a donor
SHORT_HAIR = 0.4
# attributes whose Platt fit weighs the calibration split's positives and negatives equally: their positives there
# are synthetic hair on a handful of donors' faces, so their share (about 0.3) says nothing of how often a real face
# has one, and the prior it puts into the intercept only moves the 0.5 point away from the balanced one
BALANCED_PLATT = ("Beard", "Mustache")
# An ensemble (--ensemble) averages the logits of networks trained alike but for the seed: one network's answers on
# real faces move a lot with small changes of its data and draw, the mean of several moves less. Its Platt fits are
# plain for every attribute: the balanced fit put a single network's real-face false-positive rate for Beard and
# Mustache at 8-10 % (README), the plain one is the committed network's convention. Its calibration samples are a
# fresh draw, --calibration-samples per member, from the same held-out crops (no member trained on them).
ENSEMBLE_BALANCED_PLATT: tuple = ()
ENSEMBLE_MEMBERS = Path("/tmp/facelens-attribute-members")
OCCLUDERS = ("mask", "scarf", "hand", "phone", "hair", "object", "border")
CALIBRATION_PREFIXES = ("0", "1", "2")
# Each sample is seen twice, jittered independently and the second view mirrored; the loss asks the two views for
# the same logits (weight CONSISTENCY), so that a mirrored photo, whose landmarks and so crop differ by a pixel or
# so from the mirror of the original's, gets the same answer.
CONSISTENCY = 0.3
DONOR_PX = 100
# Real-face decision points. The calibration split is mostly synthetic, so its 0.5 point says little of how often a
# real face without glasses or facial hair reads positive. FOLDS networks are trained with one fold of the crops held
# out (grouped by identity or video track; each real face with eyewear or facial hair is dealt to its own fold, so
# that its identity is out of the donors too) and score the faces of that fold: out-of-fold probabilities of real
# faces. For these attributes the 0.5 point is then moved to where at most REAL_FPR_CAP of the real faces labelled
# without read positive; for Beard and Mustache, whose real positives are enough to count, to the point at or above
# that bound with the best balanced accuracy on the real faces.
FOLDS = 5
REAL_FPR_CAP = 0.03
REAL_THRESHOLDS = ("Eyeglasses", "Beard", "Mustache")
REAL_BALANCED = ("Beard", "Mustache")


def crops_digest(chips, mesh) -> str:
    """sha256 of the crops' contents (crops.npz itself carries zip timestamps, so its bytes change run to run)."""
    h = hashlib.sha256()
    for a in (chips, mesh):
        h.update(str(a.shape).encode() + a.dtype.str.encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def calibration_source(source: str) -> bool:
    return hashlib.sha1(source.encode()).hexdigest().startswith(CALIBRATION_PREFIXES)


def identity_groups(rows):
    """One key per identity or video track: the folds hold out whole groups. Photos of a known identity
    (labelled.identity_photos: dlib's Johns, deepface's groups, the named photos) share that identity's key."""
    from labelled import identity_photos

    who = {rel: name for _split, name, rel, _pick in identity_photos()}
    return [r["track"] or who.get(r["source"], r["source"]) for r in rows]


def assign_folds(groups, y, k=FOLDS):
    """Fold of each crop: groups with a real positive of eyewear or facial hair dealt round-robin (sorted by key),
    the others by their key's sha1."""
    positive = sorted({g for g, lab in zip(groups, y) if (lab[:4] == 1).any()})
    dealt = {g: i % k for i, g in enumerate(positive)}
    return np.array([dealt.get(g, int(hashlib.sha1(g.encode()).hexdigest(), 16) % k) for g in groups])


def load(data: Path):
    z = np.load(data / "crops.npz")
    chips, mesh = z["chips"], z["mesh"]
    with open(data / "crops.tsv") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["status"] == "kept"]
    assert len(rows) == len(chips)
    with open(ROOT / "tools" / "attribute_labels.tsv") as f:
        labels = {r["key"]: r for r in csv.DictReader((ln for ln in f if not ln.startswith("#")), delimiter="\t")}
    y = np.full((len(rows), 5), np.nan, np.float32)
    for i, r in enumerate(rows):
        lab = labels.get(r["track"] or r["key"])
        if lab is None:
            continue
        vals = [lab[c] for c in LABEL_COLUMNS]
        for j, v in enumerate(vals):
            if v in ("0", "1"):
                y[i, j] = float(v)
        if vals[1] == "1":  # Rekognition: sunglasses are eyewear
            y[i, 0] = 1.0
    return chips, mesh, rows, y


def textures():
    """Object textures for occluders: the no-face photos of ../shared/data (no faces, not evaluation data) whose
    terms allow training a shipped model (attribute_crops.allowed). Returns (textures, files used, files left out
    for their terms)."""
    from labelled import DATA

    terms = source_terms()
    out, used, excluded = [], [], []
    for p in sorted((DATA / "nofaces").iterdir()):
        rel = p.relative_to(DATA).as_posix()
        if not allowed(rel, terms)[0]:
            excluded.append(rel)
            continue
        img = cv2.imread(str(p))
        if img is not None and min(img.shape[:2]) >= 120:
            out.append(cv2.cvtColor(cv2.resize(img, (320, 320)), cv2.COLOR_BGR2RGB))
            used.append(rel)
    return out, used, excluded


def make_samples(rng, idx, chips, mesh, y, rows, n, tex):
    """n samples: two views of each (uint8 [n, INPUT, INPUT, 3] twice: independently jittered, the second one of
    the mirrored image), labels [n, 5] with nan = not labelled, recipe names."""
    usable = [i for i in idx if not np.isnan(y[i]).all()]
    # real faces with eyewear or facial hair: few, so drawn on their own as well (jittered like every sample)
    positive = [i for i in usable if (y[i, :4] == 1).any()] or usable
    clean = [i for i in usable if y[i, 0] == 0 and y[i, 4] == 0]
    shaven = [i for i in clean if y[i, 2] == 0 and y[i, 3] == 0]
    # facial-hair donors: photo faces of at least DONOR_PX (their hair has texture to give)
    donors = [i for i in idx if (y[i, 2] == 1 or y[i, 3] == 1) and not rows[i]["track"]
              and float(rows[i]["face_px"]) >= DONOR_PX]
    names, probs = list(RECIPES), np.array(list(RECIPES.values()))
    xs = np.empty((n, INPUT, INPUT, 3), np.uint8)
    xs2 = np.empty_like(xs)
    ys = np.full((n, 5), np.nan, np.float32)
    recipes = []
    k = 0
    while k < n:
        recipe = names[rng.choice(len(names), p=probs / probs.sum())]
        pool = {"real": usable, "real_positive": positive, "hard_negative": clean, "glasses": clean, "sunglasses": clean, "occluder": clean,
                "facial_hair": shaven, "strands": clean}[recipe]
        if recipe == "facial_hair" and not donors:
            continue
        i = pool[rng.integers(len(pool))]
        img = chips[i].astype(np.float32)
        m = mesh[i]
        lab = y[i].copy()
        if recipe == "hard_negative":
            img = synth.hard_negative(rng, img, m)
        elif recipe == "strands":
            img = synth.thin_strands(rng, img, m)
        elif recipe in ("glasses", "sunglasses"):
            if rng.random() < 0.3:
                img = synth.hard_negative(rng, img, m)
            img, _ = synth.draw_eyewear(rng, img, m, dark=recipe == "sunglasses")
            lab[0], lab[1] = 1.0, float(recipe == "sunglasses")
            if recipe == "sunglasses":
                lab[4] = 1.0  # dark sunglasses hide the eyes: Rekognition's FaceOccluded
        elif recipe == "occluder":
            kind = OCCLUDERS[rng.integers(len(OCCLUDERS))]
            img, cover = synth.draw_occluder(rng, img, m, kind, tex)
            occ = synth.occlusion_label(img.shape, m, cover, *((0.25, 0.03) if kind == "border" else (0.6, 0.12)))
            lab[4] = np.nan if occ is None else occ
            regions = synth.region_masks(img.shape, m)
            eyes = max(float((regions[e] * cover).sum() / max(regions[e].sum(), 1)) for e in ("left_eye", "right_eye"))
            mouth = float((regions["mouth"] * cover).sum() / max(regions["mouth"].sum(), 1))
            if eyes > 0.2:
                lab[0] = lab[1] = np.nan
            if mouth > 0.2 or kind in ("mask", "scarf"):
                lab[2] = lab[3] = np.nan
        elif recipe == "facial_hair":
            d = donors[rng.integers(len(donors))]
            u = rng.random()
            parts = ("beard", "mustache") if u < 0.5 else ("beard",) if u < 0.65 else ("mustache",)
            if rng.random() < SHORT_HAIR:
                out = synth.short_beard(rng, img, m, parts)
            else:
                if y[d, 2] != 1:
                    parts = ("mustache",)
                out = synth.transfer_hair(rng, img, m, chips[d], mesh[d], parts)
            if out is None:
                continue
            img = out
            lab[2], lab[3] = float("beard" in parts), float("mustache" in parts)
            if rng.random() < 0.25:
                img, _ = synth.draw_eyewear(rng, img, m, dark=False)
                lab[0], lab[1] = 1.0, 0.0
        if rng.random() < 0.5:
            img = img[:, ::-1]
        xs[k] = synth.jitter(rng, np.ascontiguousarray(img), INPUT)
        xs2[k] = synth.jitter(rng, np.ascontiguousarray(img[:, ::-1]), INPUT)
        ys[k] = lab
        recipes.append(recipe)
        k += 1
    return xs, xs2, ys, recipes


def build_net(torch):
    nn = torch.nn

    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*block(3, 16, 2), *block(16, 32, 2), *block(32, 32, 1), *block(32, 64, 2),
                                          *block(64, 64, 1), *block(64, 96, 2))
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(96 * 5 * 5, 5))

        def forward(self, x):  # x: [N, 3, 80, 80] RGB 0..255
            return self.head(self.features((x - 127.5) / 64.0))

    return Net()


def platt(z, t, iters=100, balanced=False):
    """(a, b) minimising the log loss of sigmoid(a z + b) against Platt's smoothed targets (positives
    (n+ + 1)/(n+ + 2), negatives 1/(n- + 2), so that separable data gives finite coefficients); Newton steps halved
    until the loss falls. balanced: each sample weighted by 1 / (its class's count), so that positives and negatives
    weigh the same whatever their share."""
    npos, nneg = t.sum(), (1 - t).sum()
    tt = np.where(t == 1, (npos + 1) / (npos + 2), 1 / (nneg + 2))
    sw = np.where(t == 1, len(t) / (2 * max(npos, 1)), len(t) / (2 * max(nneg, 1))) if balanced else np.ones(len(t))

    def loss(a, b):
        x = a * z + b
        return float(np.sum(sw * (np.logaddexp(0, x) - tt * x)))

    a, b = 1.0, 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(a * z + b, -40, 40)))
        g = np.array([(sw * (p - tt) * z).sum(), (sw * (p - tt)).sum()])
        w = sw * p * (1 - p) + 1e-9
        hmat = np.array([[(w * z * z).sum(), (w * z).sum()], [(w * z).sum(), w.sum()]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(hmat, g)
        k, base = 1.0, loss(a, b)
        while k > 1e-6 and loss(a - k * step[0], b - k * step[1]) > base:
            k /= 2
        a, b = a - k * step[0], b - k * step[1]
        if np.abs(k * step).max() < 1e-9:
            break
    return float(a), float(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/facelens-attribute-data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-samples", type=int, default=7000)
    ap.add_argument("--calibration-samples", type=int, default=1500)
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--out", default=str(ROOT / "python" / "facelens" / "models" / "face_attributes.onnx"))
    ap.add_argument("--preview", help="write a grid of training samples to this PNG and stop")
    ap.add_argument("--hold-out", type=int, choices=range(FOLDS), metavar=f"0..{FOLDS - 1}",
                    help="train without this fold's crops and write the fold's out-of-fold probabilities to --out "
                         "(a TSV) instead of a model")
    ap.add_argument("--member-out", help="save the trained network's weights (torch state dict) here for --ensemble "
                                         "instead of writing a model")
    ap.add_argument("--ensemble", type=int, nargs="+", metavar="SEED",
                    help="write one model that averages the logits of the --member-out networks of these seeds "
                         "(--members/member<SEED>.pt), Platt-scaled on a fresh calibration draw; trains nothing")
    ap.add_argument("--members", type=Path, default=ENSEMBLE_MEMBERS, help="folder of the member<SEED>.pt files")
    ap.add_argument("--oof", help=f"folder of the {FOLDS} --hold-out TSVs (oof_fold<k>.tsv): move the decision points "
                                   f"of {', '.join(REAL_THRESHOLDS)} to the real faces' (REAL_FPR_CAP)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(args.seed)

    data = Path(args.data)
    chips, mesh, rows, y = load(data)
    sources = [r["source"] for r in rows]
    cal_idx = [i for i, s in enumerate(sources) if calibration_source(s)]
    folds = assign_folds(identity_groups(rows), y)
    train_idx = [i for i, s in enumerate(sources) if not calibration_source(s)
                 and (args.hold_out is None or folds[i] != args.hold_out)]
    tex, tex_used, tex_excluded = textures()
    if args.ensemble:
        members = []
        for seed in args.ensemble:
            member = build_net(torch)
            member.load_state_dict(torch.load(args.members / f"member{seed}.pt"))
            members.append(member.eval())
        net = mean_net(torch, members)
        crng = np.random.default_rng([args.seed, *args.ensemble])
        xc, _, yc, _ = make_samples(crng, cal_idx, chips, mesh, y, rows, args.calibration_samples * len(members), tex)
        calibration, cal_metrics = calibrate(torch, net, xc, yc, ENSEMBLE_BALANCED_PLATT)
        export_model(torch, net, args, data, chips, mesh, rows, train_idx, cal_idx, calibration, cal_metrics,
                     tex_used, tex_excluded, None)
        return
    t0 = time.time()
    xs, xs2, ys, recipes = make_samples(rng, train_idx, chips, mesh, y, rows, args.train_samples, tex)
    xc, _, yc, _ = make_samples(rng, cal_idx, chips, mesh, y, rows, args.calibration_samples, tex)
    print(f"crops: {len(train_idx)} train / {len(cal_idx)} calibration (sources "
          f"{len({sources[i] for i in train_idx})} / {len({sources[i] for i in cal_idx})}); "
          f"samples drawn in {time.time() - t0:.0f} s", flush=True)
    for j, name in enumerate(ATTRIBUTES):
        print(f"  {name}: train {int(np.nansum(ys[:, j]))}/{int((~np.isnan(ys[:, j])).sum())} positive, "
              f"calibration {int(np.nansum(yc[:, j]))}/{int((~np.isnan(yc[:, j])).sum())}")
    if args.preview:
        grid = np.vstack([np.hstack(list(xs[r * 12:(r + 1) * 12])) for r in range(8)])
        cv2.imwrite(args.preview, cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        code = lambda lab: "".join("?" if np.isnan(v) else str(int(v)) for v in lab)  # noqa: E731
        print("\n".join(" ".join(f"{recipes[r * 12 + c][:6]}:{code(ys[r * 12 + c])}" for c in range(12))
                        for r in range(8)))
        return

    net = build_net(torch)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = args.epochs * int(np.ceil(len(xs) / 64))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    xt = torch.from_numpy(xs).permute(0, 3, 1, 2).float()
    xt2 = torch.from_numpy(xs2).permute(0, 3, 1, 2).float()
    yt = torch.from_numpy(ys)
    # each attribute's loss weighs its positives and negatives equally
    pos = np.nansum(ys, 0)
    cnt = (~np.isnan(ys)).sum(0)
    pos_weight = torch.from_numpy(((cnt - pos) / np.maximum(pos, 1)).astype(np.float32)).clamp(max=10)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for s in range(0, len(xt), 64):
            b = perm[s:s + 64]
            xb, yb = torch.cat([xt[b], xt2[b]]), torch.cat([yt[b], yt[b]])
            flip = (torch.rand(len(b), generator=gen) < 0.5).repeat(2)
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            known = ~torch.isnan(yb)
            logits = net(xb)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits[known], yb[known], pos_weight=pos_weight.expand_as(yb)[known])
            loss = loss + CONSISTENCY * ((logits[:len(b)] - logits[len(b):]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(b)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(xt):.4f} ({time.time() - t0:.0f} s)", flush=True)

    net.eval()
    calibration, cal_metrics = calibrate(torch, net, xc, yc, BALANCED_PLATT)

    if args.member_out:
        torch.save(net.state_dict(), args.member_out)
        print(f"wrote {args.member_out}")
        return
    if args.hold_out is not None:
        held = [i for i in range(len(rows)) if folds[i] == args.hold_out and not np.isnan(y[i]).all()]
        write_out_of_fold(Path(args.out), rows, y, held, real_probabilities(torch, net, chips, held, calibration))
        print(f"wrote {args.out}: {len(held)} held-out crops")
        return
    real_thresholds = None
    if args.oof:
        real_thresholds = move_decision_points(Path(args.oof), calibration)

    export_model(torch, net, args, data, chips, mesh, rows, train_idx, cal_idx, calibration, cal_metrics, tex_used,
                 tex_excluded, real_thresholds)


def mean_net(torch, members):
    """One module whose logits are the mean of the members' (one ONNX graph, one run)."""

    class Mean(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.members = torch.nn.ModuleList(members)

        def forward(self, x):
            return torch.stack([m(x) for m in self.members]).mean(0)

    return Mean().eval()


def mirror_logits(torch, net, x):
    """[N, 5] float64 mean logits of uint8 [N, INPUT, INPUT, 3] crops and their mirror images, as facelens runs
    the network (engine/attributes.py)."""
    with torch.no_grad():
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).float()
        return ((net(xt) + net(xt.flip(3))) / 2).numpy().astype(np.float64)


def calibrate(torch, net, xc, yc, balanced_names):
    """Platt coefficients {name: {a, b}} of the mirror-averaged logits on the calibration samples, and the
    samples' balanced accuracy and false-positive rate at p = 0.5."""
    zc = mirror_logits(torch, net, xc)
    calibration, cal_metrics = {}, {}
    for j, name in enumerate(ATTRIBUTES):
        known = ~np.isnan(yc[:, j])
        a, b = platt(zc[known, j], yc[known, j], balanced=name in balanced_names)
        pred = (a * zc[known, j] + b) >= 0
        t = yc[known, j] == 1
        bal = 0.5 * (pred[t].mean() + (~pred[~t]).mean())
        calibration[name] = {"a": round(a, 6), "b": round(b, 6)}
        cal_metrics[name] = {"balanced_accuracy": round(float(bal), 4), "false_positive_rate":
                             round(float(pred[~t].mean()), 4), "n": int(known.sum()), "positives": int(t.sum())}
        print(f"  calibration split {name}: balanced accuracy {bal:.3f}, false-positive rate "
              f"{pred[~t].mean():.3f} (n={known.sum()}, positives={t.sum()}); Platt a={a:.4f} b={b:.4f}")
    return calibration, cal_metrics


def export_model(torch, net, args, data, chips, mesh, rows, train_idx, cal_idx, calibration, cal_metrics, tex_used,
                 tex_excluded, real_thresholds):
    """Write the ONNX file (--out) and its manifest entry."""
    out = Path(args.out)
    torch.onnx.export(net, torch.zeros(1, 3, INPUT, INPUT), str(out), input_names=["face"], output_names=["logits"],
                      dynamic_axes={"face": {0: "N"}, "logits": {0: "N"}}, opset_version=13, dynamo=False)
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    crops_sha = crops_digest(chips, mesh)
    info = {"calibration": calibration, "sha256": sha, "size_bytes": out.stat().st_size,
            "crops_sha256": crops_sha, "seed": args.seed, "train_samples": args.train_samples,
            "calibration_samples": args.calibration_samples, "epochs": args.epochs, "torch": torch.__version__,
            "numpy": np.__version__, "opencv": cv2.__version__,
            "train_crops": len(train_idx), "calibration_crops": len(cal_idx),
            "textures_used": tex_used, "textures_excluded": tex_excluded,
            "crops_excluded": excluded_sources(data), "real_thresholds": real_thresholds}
    write_manifest_entry(out, info, args, rows, train_idx, cal_idx, cal_metrics)
    print(f"wrote {out} sha256 {sha}; crops sha256 {crops_sha}")


def real_probabilities(torch, net, chips, idx, calibration):
    """[len(idx), 5] calibrated probabilities of real crops as facelens computes them (engine/attributes.py:
    area-averaged to INPUT px, logits of the crop and its mirror averaged, Platt-scaled; Eyeglasses at least
    Sunglasses)."""
    x = np.stack([cv2.resize(chips[i], (INPUT, INPUT), interpolation=cv2.INTER_AREA) for i in idx])
    z = mirror_logits(torch, net, x)
    a = np.array([calibration[k]["a"] for k in ATTRIBUTES])
    b = np.array([calibration[k]["b"] for k in ATTRIBUTES])
    p = 1 / (1 + np.exp(-(a * z + b)))
    p[:, 0] = np.maximum(p[:, 0], p[:, 1])
    return p


def write_out_of_fold(path: Path, rows, y, idx, p):
    with open(path, "w") as f:
        f.write("\t".join(["face", *(f"p_{c}" for c in LABEL_COLUMNS), *LABEL_COLUMNS]) + "\n")
        for i, pi in zip(idx, p):
            labels = ["" if np.isnan(v) else str(int(v)) for v in y[i]]
            f.write("\t".join([rows[i]["track"] or rows[i]["key"], *(f"{v:.6f}" for v in pi), *labels]) + "\n")


def real_decision_point(p, t, w, balanced):
    """The probability at or above which a face is called positive: the lowest point where at most REAL_FPR_CAP of
    the negatives' weight reads positive, and not below 0.5; with balanced, the point at or above that bound with
    the best weighted balanced accuracy (the highest such point on a tie)."""
    neg, pos = t == 0, t == 1
    candidates = np.unique(np.concatenate([p, [0.5, 1.0]]))
    fpr = np.array([w[neg & (p >= c)].sum() / w[neg].sum() for c in candidates])
    lowest = candidates[np.argmax(fpr <= REAL_FPR_CAP)]
    if not balanced:
        return max(0.5, float(lowest))
    best, best_score = 1.0, -1.0
    for c, f in zip(candidates, fpr):
        if c < lowest:
            continue
        score = 0.5 * (w[pos & (p >= c)].sum() / w[pos].sum() + 1 - f)
        if score >= best_score:
            best, best_score = float(c), score
    return best


def move_decision_points(folder: Path, calibration):
    """Read the FOLDS out-of-fold files, pick each REAL_THRESHOLDS attribute's real-face decision point and fold it
    into the Platt intercept (p >= point  <=>  a z + b - logit(point) >= 0), so that Value stays p >= 0.5. Each face
    (photo face or video track) weighs 1, shared among its crops."""
    scored = []
    for k in range(FOLDS):
        with open(folder / f"oof_fold{k}.tsv") as f:
            scored += list(csv.DictReader(f, delimiter="\t"))
    counts = Counter(r["face"] for r in scored)
    out = {}
    for j, name in enumerate(ATTRIBUTES):
        if name not in REAL_THRESHOLDS:
            continue
        col = LABEL_COLUMNS[j]
        known = [r for r in scored if r[col] in ("0", "1")]
        p = np.array([float(r[f"p_{col}"]) for r in known])
        t = np.array([int(r[col]) for r in known])
        w = np.array([1.0 / counts[r["face"]] for r in known])
        # no face reads 1.0 exactly, so a point of 1.0 means "never"; kept finite for the intercept
        point = min(real_decision_point(p, t, w, name in REAL_BALANCED), 1 - 1e-6)
        called = p >= point
        calibration[name]["b"] = round(calibration[name]["b"] - float(np.log(point / (1 - point))), 6)
        out[name] = {"point": round(point, 6), "faces_without": round(float(w[t == 0].sum()), 1),
                     "faces_with": round(float(w[t == 1].sum()), 1),
                     "false_positive_rate": round(float(w[(t == 0) & called].sum() / w[t == 0].sum()), 4),
                     "recall": (round(float(w[(t == 1) & called].sum() / w[t == 1].sum()), 4)
                                if (t == 1).any() else None),
                     "false_positive_rate_at_0.5": round(float(w[(t == 0) & (p >= 0.5)].sum() / w[t == 0].sum()), 4)}
        print(f"  real faces, out of fold, {name}: decision point {point:.3f} ({out[name]})")
    return out


def excluded_sources(data: Path):
    """Source files attribute_crops.py left out for their terms (excluded.tsv next to crops.tsv)."""
    with open(data / "excluded.tsv") as f:
        return [r["source"] for r in csv.DictReader(f, delimiter="\t")]


def count_terms(files, terms):
    out = {}
    for rel in sorted(set(files)):
        key = terms.get(rel, "not listed in MANIFEST.tsv")
        out[key] = out.get(key, 0) + 1
    return out


def train_command(args, seed=None) -> str:
    return ("<venv with torch==2.13.0 numpy onnx opencv-python-headless>/bin/python "
            f"tools/train_attributes.py --data /tmp/facelens-attribute-data --seed {args.seed if seed is None else seed} "
            f"--train-samples {args.train_samples} --calibration-samples {args.calibration_samples} "
            f"--epochs {args.epochs}")


def full_command(args) -> str:
    """The shell command that rebuilds the model from nothing: crops, then the runs the model needs."""
    crops = "python tools/attribute_crops.py --out /tmp/facelens-attribute-data && "
    if args.ensemble:
        seeds = " ".join(map(str, args.ensemble))
        return (crops + f"for s in {seeds}; do " + train_command(args, "$s")
                + f" --member-out {args.members}/member$s.pt; done && "
                + train_command(args) + f" --ensemble {seeds} --members {args.members}")
    if args.oof:
        return (crops + f"for k in {' '.join(map(str, range(FOLDS)))}; do " + train_command(args)
                + " --hold-out $k --out /tmp/facelens-attribute-oof/oof_fold$k.tsv; done && "
                + train_command(args) + " --oof /tmp/facelens-attribute-oof")
    return crops + train_command(args)


def write_manifest_entry(out: Path, info, args, rows, train_idx, cal_idx, cal_metrics):
    """The model's entry in models/manifest.json (next to the ONNX file): checksum, how to reproduce it, data
    recipe, the licences of the photos its crops came from, I/O and the Platt coefficients."""

    terms = source_terms()
    sources = [rows[i]["source"] for i in list(train_idx) + list(cal_idx)]
    lic = count_terms(sources + info["textures_used"], terms)
    excluded = count_terms(info["crops_excluded"] + info["textures_excluded"], terms)
    labels_sha = hashlib.sha256((ROOT / "tools" / "attribute_labels.tsv").read_bytes()).hexdigest()
    entry = {
        "file": out.name,
        "licence": "trained here (tools/train_attributes.py); no third-party weights",
        "licence_note": "weights learned from crops of ../shared/data photos and clips (evaluation photos excluded) "
                        "and occluder textures from its no-face photos, only files whose terms allow use in a "
                        "product (data_recipe.excluded_by_terms); their terms, by number of source files, are in "
                        "training_data_terms",
        "sha256": info["sha256"],
        "size_bytes": info["size_bytes"],
        "trainer": {
            "tool": "tools/train_attributes.py",
            "command": full_command(args),
            "torch": info["torch"],
            "numpy": info["numpy"],
            "opencv": info["opencv"],
            "seed": args.seed,
            "ensemble_member_seeds": args.ensemble,
            "deterministic": "numpy Generator(seed) draws the samples; torch.manual_seed, one thread, "
                             "use_deterministic_algorithms(True); the same file needs the same torch, numpy and "
                             "OpenCV versions (the samples are drawn through OpenCV)",
            "crops_sha256": info["crops_sha256"],
            "crops_sha256_of": "crops.npz arrays chips and mesh (shape, dtype, bytes): crops_digest",
            "labels_tsv_sha256": labels_sha,
        },
        "data_recipe": {
            "crops": "tools/attribute_crops.py: every face of images/ and annotated/ except the evaluation photos "
                     "(annotated/attributes_by_eye*.tsv files, copies of them, LFW 25 px crops) and of the clips "
                     "in videos/ (every 6th frame, tracks), faces >= 24 px, near-duplicates of evaluation faces "
                     "dropped; by-eye labels tools/attribute_labels.tsv (per photo face / per track)",
            "excluded_by_terms": {
                "rule": "attribute_crops.allowed: a file is left out of the crops and the occluder textures when "
                        "its terms in ../shared/data/MANIFEST.tsv match the pattern below (research use, "
                        "non-commercial, CC BY-NC) or it is not listed there",
                "pattern": RESTRICTED_TERMS.pattern,
                "files_by_terms": excluded,
                "files": len(info["crops_excluded"]) + len(info["textures_excluded"]),
            },
            "train_crops": len(train_idx),
            "calibration_crops": len(cal_idx),
            "recipes": RECIPES,
            "facial_hair_short_share": SHORT_HAIR,
            "views": "two per sample, independently jittered, the second mirrored; loss: binary cross-entropy on "
                     f"both plus {CONSISTENCY} x the mean squared difference of their logits",
            "occluders": list(OCCLUDERS),
            "occluder_textures": len(info["textures_used"]),
            "train_samples": args.train_samples,
            "calibration_samples": args.calibration_samples,
            "epochs": args.epochs,
            "synthesis": "tools/attribute_synth.py",
        },
        "training_data_terms": lic,
        "inputs": [{"name": "face", "shape": ["N", 3, INPUT, INPUT], "dtype": "float32", "layout": "NCHW",
                    "channel_order": "RGB", "scaling": "pixel values 0..255 (normalised inside the graph)",
                    "crop": "dlib 5-point chip template, padding 0.4, cut at 240 px (bilinear, zero outside) then "
                            "cv2.resize INTER_AREA to 80 px (engine/attributes.py attribute_probabilities)"}],
        "outputs": [{"name": "logits", "shape": ["N", 5], "dtype": "float32",
                     "meaning": "logits of " + ", ".join(ATTRIBUTES) + " (Eyeglasses = any eyewear)"}],
        "labels": list(ATTRIBUTES),
        "calibration": {**info["calibration"],
                        "method": ("Platt scaling sigmoid(a z + b) of z = mean logit of the crop and its mirror"
                                   + (f", the logit being the mean of the {len(args.ensemble)} members' (plain fits "
                                      "for every attribute)" if args.ensemble else
                                      "; positives and negatives weighted equally for " + ", ".join(BALANCED_PLATT))),
                        "split": "calibration split: crops whose source file's sha1 starts with 0, 1 or 2, and the "
                                 "synthetic samples drawn on them (never trained on)",
                        "metrics": cal_metrics,
                        "real_face_decision_points": info["real_thresholds"],
                        "real_face_decision_points_method": (
                            f"{FOLDS} networks each trained without one fold of the crops (identities and video "
                            "tracks kept whole; each real face with eyewear or facial hair in its own fold) score "
                            "that fold's labelled crops; each photo face or video track weighs 1. For "
                            f"{', '.join(REAL_THRESHOLDS)} the decision point is the lowest where at most "
                            f"{REAL_FPR_CAP:.0%} of the faces labelled without read positive, not below 0.5; for "
                            f"{', '.join(REAL_BALANCED)} the point at or above that with the best balanced accuracy on "
                            "those faces. b above includes -logit(point), so Value is p >= 0.5")
                        if info["real_thresholds"] else None},
    }
    mf = out.parent / "manifest.json"
    manifest = json.loads(mf.read_text())
    manifest["models"]["face_attributes"] = entry
    mf.write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
