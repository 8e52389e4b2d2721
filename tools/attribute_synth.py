"""Synthetic attribute samples on real aligned face crops (tools/attribute_crops.py): eyewear drawn in 3-D along the
FaceMesh points, occluders, beards and moustaches transferred from real bearded crops, and hard negatives. Every
function takes a numpy Generator, so a run with the same seed draws the same samples.

Crops are CHIP px RGB uint8 with the 478 mesh points in crop pixels (x, y, z; z in the same scale, smaller = nearer
the camera, MediaPipe's convention).
"""

from __future__ import annotations

import cv2
import numpy as np

LEFT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
RIGHT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
LEFT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
RIGHT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149,
        150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
NOSE = (1, 4, 5, 195, 2, 98, 327, 48, 278)
MUSTACHE_AREA = (61, 291, 0, 37, 267, 39, 269, 40, 270, 185, 409, 2, 98, 327, 97, 326, 167, 393, 165, 391)
# the jaw and chin below the mouth corners, and the cheeks' lower half along the jaw
BEARD_AREA = (132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 187, 411, 205, 425,
              61, 291, 214, 434)
GOATEE_AREA = (148, 152, 377, 400, 176, 149, 378, 61, 291, 17, 84, 314, 181, 405, 200, 199, 175)


def poly_mask(shape, pts, blur=0.0):
    m = np.zeros(shape[:2], np.float32)
    cv2.fillPoly(m, [np.round(np.asarray(pts, np.float64) * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    if blur > 0:
        m = cv2.GaussianBlur(m, (0, 0), blur)
    return m


def hull_mask(shape, mesh, idx, blur=0.0):
    pts = cv2.convexHull(mesh[list(idx), :2].astype(np.float32))[:, 0]
    return poly_mask(shape, pts, blur)


def region_masks(shape, mesh):
    """Masks of the parts that decide FaceOccluded: each eye, the nose, the mouth."""
    return {"left_eye": hull_mask(shape, mesh, LEFT_EYE), "right_eye": hull_mask(shape, mesh, RIGHT_EYE),
            "nose": hull_mask(shape, mesh, NOSE), "mouth": hull_mask(shape, mesh, LIPS)}


def occlusion_label(shape, mesh, cover, positive=0.6, negative=0.12):
    """1 when an occluder mask covers at least ``positive`` of an eye, the nose or the mouth; 0 when it covers at
    most ``negative`` of each; None (not labelled) in between. The picture's edge uses lower bounds: Rekognition
    counts a face whose eyes, nose or mouth are only partly in the picture as occluded."""
    cov = []
    for m in region_masks(shape, mesh).values():
        area = m.sum()
        cov.append(float((m * cover).sum() / area) if area > 1 else 0.0)
    if max(cov) >= positive:
        return 1.0
    if max(cov) <= negative:
        return 0.0
    return None


def blend(img, colour_img, alpha):
    a = alpha[..., None] if alpha.ndim == 2 else alpha
    return img * (1 - a) + colour_img * a


# ---- eyewear ---------------------------------------------------------------------------------------------------
def face_frame(mesh):
    """(left eye centre, right eye centre, ex, ey, ez, inter-ocular distance): ex along the eyes (image-left eye to
    image-right eye), ey down the face, ez toward the camera."""
    le = mesh[list(LEFT_EYE)].mean(0).astype(np.float64)
    re = mesh[list(RIGHT_EYE)].mean(0).astype(np.float64)
    ex = re - le
    iod = float(np.linalg.norm(ex))
    ex /= iod
    down = mesh[152].astype(np.float64) - mesh[10].astype(np.float64)
    ey = down - ex * (down @ ex)
    ey /= np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    if ez @ (mesh[1].astype(np.float64) - (le + re) / 2) < 0:
        ez = -ez
    return le, re, ex, ey, ez, iod


def lens_outline(rng, a, b, style, n=64):
    """Lens outline in lens coordinates (u outward from the nose, v down), [n, 2]."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    p = rng.uniform(2.0, 5.0) if style != "round" else 2.0
    c, s = np.cos(t), np.sin(t)
    u = a * np.sign(c) * np.abs(c) ** (2 / p)
    v = b * np.sign(s) * np.abs(s) ** (2 / p)
    if style == "aviator":
        v = np.where(v > 0, v * 1.3, v * 0.8)
        u = u - np.where(v > 0, 0.25 * a * (v / b) * (u < 0), 0.0)  # the lower inner corner slopes toward the nose
    elif style == "cateye":
        v = v - np.where(v < 0, 0.35 * b * np.clip(u / a, 0, 1) ** 2, 0.0)
    return np.stack([u, v], 1)


def draw_eyewear(rng, img, mesh, dark: bool):
    """Eyeglasses (dark=False: clear to lightly tinted lenses) or sunglasses drawn on a float32 crop in the plane a
    little in front of the eyes, so that they turn with the head. Returns the new image."""
    h, w = img.shape[:2]
    le, re, ex, ey, ez, iod = face_frame(mesh)
    style = rng.choice(["rect", "round", "aviator", "cateye", "rect"])
    a = iod * (rng.uniform(0.40, 0.56) if dark else rng.uniform(0.33, 0.50))
    b = a * (rng.uniform(0.60, 0.95) if dark else rng.uniform(0.50, 0.85))
    depth = iod * rng.uniform(0.10, 0.22)
    drop = iod * rng.uniform(-0.02, 0.10)
    rim_kind = rng.choice(["full", "full", "half", "rimless"], p=[0.45, 0.2, 0.15, 0.2])
    thick = rng.uniform(0.015, 0.07) * iod * (1.6 if dark else 1.0)
    palette = [(20, 20, 20), (45, 30, 20), (90, 55, 30), (200, 170, 100), (185, 185, 190), (140, 20, 30),
               (30, 40, 120), (110, 110, 115), (230, 220, 210)]
    rim_col = np.array(palette[rng.integers(len(palette))], np.float64) * rng.uniform(0.7, 1.15)
    if dark:
        tint = np.array([(15, 15, 15), (40, 25, 15), (20, 35, 20), (20, 25, 45), (60, 60, 70)][rng.integers(5)],
                        np.float64)
        alpha = rng.uniform(0.72, 0.97)
    else:
        tint = np.array([(255, 255, 255), (240, 220, 200), (200, 220, 240), (120, 120, 120)][rng.integers(4)],
                        np.float64)
        alpha = rng.uniform(0.0, 0.22)
    out = img.copy()
    lenses = []
    for centre, sign in ((le, -1.0), (re, 1.0)):
        local = lens_outline(rng, a, b, style)
        pts3 = centre + depth * ez + drop * ey + sign * local[:, :1] * ex + local[:, 1:] * ey
        lenses.append((pts3, centre))
    cover = np.zeros((h, w), np.float32)
    for pts3, _centre in lenses:
        pts = pts3[:, :2]
        m = poly_mask(img.shape, pts)
        cover = np.maximum(cover, m)
        if not dark and rng.random() < 0.6:  # a corrective lens shrinks or enlarges what lies behind it
            k = rng.uniform(0.9, 1.06)
            c = pts.mean(0)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            mx, my = (c[0] + (xx - c[0]) * k).astype(np.float32), (c[1] + (yy - c[1]) * k).astype(np.float32)
            warped = cv2.remap(out.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            out = blend(out, warped, m)
        shade = np.ones((h, w, 1)) * tint
        if dark:  # a vertical gradient: sunglasses are often darker at the top
            g = np.clip((np.arange(h)[:, None] - pts[:, 1].min()) / max(np.ptp(pts[:, 1]), 1), 0, 1)
            grad = 1 - rng.uniform(0, 0.4) * g
            out = blend(out, shade, m * alpha * grad[:, :])
        elif alpha > 0.01:
            out = blend(out, shade, m * alpha)
        # highlights: a soft streak across the lens
        if rng.random() < (0.8 if dark else 0.5):
            c = pts.mean(0)
            ang = rng.uniform(0.5, 1.2)
            d = np.array([np.cos(ang), -np.sin(ang)])
            nrm = np.array([d[1], -d[0]])
            off = rng.uniform(-0.4, 0.4) * a
            wdt = rng.uniform(0.08, 0.3) * a
            q = np.array([c + nrm * off - d * 2 * a, c + nrm * off + d * 2 * a,
                          c + nrm * (off + wdt) + d * 2 * a, c + nrm * (off + wdt) - d * 2 * a])
            streak = poly_mask(img.shape, q, blur=wdt / 3) * m
            out = blend(out, np.full((h, w, 3), 255.0), streak * rng.uniform(0.15, 0.6 if dark else 0.4))
    # frames
    ipts = []
    for pts3, _ in lenses:
        pts = pts3[:, :2]
        ipts.append(pts)
        if rim_kind == "rimless":
            cv2.polylines(out, [np.round(pts * 4).astype(np.int32)], True, (235, 235, 235), 1, cv2.LINE_AA, shift=2)
            continue
        sel = pts if rim_kind == "full" else pts[(pts3[:, :2] - pts3[:, :2].mean(0)) @ ey[:2] < 0.15 * b]
        t = max(1, int(round(thick)))
        layer = np.zeros((h, w), np.float32)
        cv2.polylines(layer, [np.round(sel * 4).astype(np.int32)], rim_kind == "full", 1.0, t, cv2.LINE_AA, shift=2)
        col = np.ones((h, w, 1)) * rim_col
        if rng.random() < 0.2:  # tortoiseshell
            col = col * (0.6 + 0.8 * cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2)[..., None])
        out = blend(out, col, layer * rng.uniform(0.8, 1.0))
    # bridge and temples
    li, ri = ipts[0], ipts[1]
    top_l = li[np.argmax(li @ ex[:2] - 0.3 * (li @ ey[:2]))]
    top_r = ri[np.argmin(ri @ ex[:2] + 0.3 * (ri @ ey[:2]))]
    t = max(1, int(round(thick * 0.8)))
    mid = (top_l + top_r) / 2 - ey[:2] * 0.06 * iod
    bridge_col = tuple(float(c) for c in (rim_col if rim_kind != "rimless" else (200, 200, 205)))
    cv2.polylines(out, [np.round(np.array([top_l, mid, top_r]) * 4).astype(np.int32)], False, bridge_col, t,
                  cv2.LINE_AA, shift=2)
    oval = cv2.convexHull(mesh[list(OVAL), :2].astype(np.float32))
    for pts3, sign in ((lenses[0][0], -1.0), (lenses[1][0], 1.0)):
        outer = pts3[np.argmax(sign * (pts3 @ ex) - 0.3 * (pts3 @ ey))]
        end = outer - ez * iod * 1.1 + sign * ex * 0.05 * iod
        if cv2.pointPolygonTest(oval, (float(end[0]), float(end[1])), False) < 0:
            cv2.line(out, tuple(int(v) for v in np.round(outer[:2] * 4)), tuple(int(v) for v in np.round(end[:2] * 4)),
                     bridge_col, t, cv2.LINE_AA, shift=2)
    return out, cover


# ---- occluders -------------------------------------------------------------------------------------------------
def skin_tone(img, mesh):
    pts = mesh[[50, 280, 151], :2].astype(int)
    h, w = img.shape[:2]
    vals = [img[np.clip(y - 3, 0, h - 1):y + 4, np.clip(x - 3, 0, w - 1):x + 4].reshape(-1, 3) for x, y in pts]
    return np.concatenate(vals).mean(0)


def textured(rng, h, w, base):
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # plain with soft shading
        tex = np.ones((h, w, 1)) * base * (0.85 + 0.3 * cv2.GaussianBlur(rng.random((h, w)).astype(np.float32),
                                                                           (0, 0), 12)[..., None])
    elif kind == 1:  # stripes
        f = rng.uniform(0.05, 0.3)
        ang = rng.uniform(0, np.pi)
        s = (np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * f) > 0)[..., None]
        other = rng.uniform(0, 255, 3)
        tex = np.where(s, base, other)
    elif kind == 2:  # knit / noise
        n = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), rng.uniform(0.8, 3))[..., None]
        tex = base * (0.6 + 0.8 * n)
    else:  # pleats (a surgical mask)
        s = 0.85 + 0.15 * np.sin(yy * rng.uniform(0.15, 0.35))[..., None]
        tex = np.ones((h, w, 1)) * base * s
    return np.clip(tex, 0, 255)


def draw_occluder(rng, img, mesh, kind, textures):
    """(image, cover mask) with one occluder of the given kind."""
    h, w = img.shape[:2]
    le, re, ex, ey, _ez, iod = face_frame(mesh)
    out = img.copy()
    if kind in ("mask", "scarf"):
        top_idx = 195 if kind == "mask" else int(rng.choice([2, 164, 0]))
        top = mesh[top_idx, :2]
        oval = mesh[list(OVAL), :2]
        below = oval[(oval - top) @ ey[:2] > 0]
        pts = np.vstack([below, top[None]])
        if kind == "scarf":  # wider and down past the chin
            pts = np.vstack([pts, pts + ey[:2] * iod * 1.5])
        hull = cv2.convexHull(pts.astype(np.float32))[:, 0]
        cover = poly_mask(img.shape, hull, blur=1.0)
        base = rng.uniform(0, 255, 3) if rng.random() < 0.6 else np.array([200, 225, 235.0]) * rng.uniform(0.8, 1.1)
        out = blend(out, textured(rng, h, w, base), cover)
    elif kind == "hand":
        target = mesh[int(rng.choice([13, 13, 1, 159, 386])), :2]
        tone = skin_tone(img, mesh) * rng.uniform(0.8, 1.15) if rng.random() < 0.6 else rng.uniform(60, 230) * \
            np.array([1.0, 0.78, 0.62])
        ang = rng.uniform(0, 2 * np.pi)
        palm = (iod * rng.uniform(0.5, 0.75), iod * rng.uniform(0.4, 0.6))
        cover = np.zeros((h, w), np.float32)
        c = target + rng.normal(0, 0.15 * iod, 2)
        cv2.ellipse(cover, (int(c[0] * 4), int(c[1] * 4)), (int(palm[0] * 4), int(palm[1] * 4)),
                    np.degrees(ang), 0, 360, 1.0, -1, cv2.LINE_AA, shift=2)
        d = np.array([np.cos(ang), np.sin(ang)])
        nrm = np.array([-d[1], d[0]])
        for k in range(4):
            base = c + d * palm[0] * 0.7 + nrm * (k - 1.5) * palm[1] * 0.5
            tip = base + d * iod * rng.uniform(0.5, 0.8)
            cv2.line(cover, tuple(int(v) for v in base * 4), tuple(int(v) for v in tip * 4), 1.0,
                     max(2, int(palm[1] * 0.4)), cv2.LINE_AA, shift=2)
        cover = cv2.GaussianBlur(cover, (0, 0), 0.8)
        shade = np.ones((h, w, 1)) * tone * (0.85 + 0.3 * cv2.GaussianBlur(rng.random((h, w)).astype(np.float32),
                                                                           (0, 0), 8)[..., None])
        out = blend(out, shade, cover)
    elif kind == "phone":
        target = mesh[int(rng.choice([13, 159, 386, 1])), :2] + rng.normal(0, 0.1 * iod, 2)
        size = (iod * rng.uniform(0.5, 0.8), iod * rng.uniform(1.0, 1.6))
        ang = rng.uniform(-40, 40)
        box = cv2.boxPoints(((float(target[0]), float(target[1])), size, ang))
        cover = poly_mask(img.shape, box, blur=0.5)
        col = rng.uniform(0, 80, 3) if rng.random() < 0.7 else rng.uniform(100, 255, 3)
        out = blend(out, np.ones((h, w, 1)) * col, cover)
    elif kind == "hair":
        cover = np.zeros((h, w), np.float32)
        col = np.array([(20, 15, 10), (60, 40, 25), (120, 90, 50), (200, 170, 110), (40, 40, 40)][rng.integers(5)],
                       np.float64)
        eyes = [le] if rng.random() < 0.5 else [le, re]
        if rng.random() < 0.3:
            eyes = [le, re]
        for e in eyes:
            for _ in range(rng.integers(8, 16)):
                start = e[:2] - ey[:2] * iod * rng.uniform(0.6, 1.2) + ex[:2] * rng.normal(0, 0.25 * iod)
                end = e[:2] + ey[:2] * iod * rng.uniform(0.4, 1.0) + ex[:2] * rng.normal(0, 0.3 * iod)
                mid = (start + end) / 2 + ex[:2] * rng.normal(0, 0.15 * iod)
                curve = np.array([start, mid, end])
                cv2.polylines(cover, [np.round(curve * 4).astype(np.int32)], False, 1.0,
                              int(rng.uniform(0.08, 0.18) * iod), cv2.LINE_AA, shift=2)
        cover = np.clip(cv2.GaussianBlur(cover, (0, 0), 1.0) * 1.2, 0, 1)
        tex = np.ones((h, w, 1)) * col * (0.7 + 0.6 * cv2.GaussianBlur(rng.random((h, w)).astype(np.float32),
                                                                         (0, 0), 1)[..., None])
        out = blend(out, tex, cover)
    elif kind == "object":
        tex = textures[rng.integers(len(textures))]
        target = mesh[int(rng.choice([13, 1, 159, 386])), :2] + rng.normal(0, 0.1 * iod, 2)
        size = iod * rng.uniform(0.6, 1.4)
        cover = np.zeros((h, w), np.float32)
        if rng.random() < 0.5:
            cv2.circle(cover, (int(target[0] * 4), int(target[1] * 4)), int(size * 2), 1.0, -1, cv2.LINE_AA, shift=2)
        else:
            box = cv2.boxPoints(((float(target[0]), float(target[1])), (size, size * rng.uniform(0.5, 1.5)),
                                 rng.uniform(0, 90)))
            cover = poly_mask(img.shape, box)
        y0, x0 = rng.integers(0, max(1, tex.shape[0] - h)), rng.integers(0, max(1, tex.shape[1] - w))
        patch = cv2.resize(tex[y0:y0 + h, x0:x0 + w], (w, h)).astype(np.float64)
        out = blend(out, patch, cover)
    elif kind == "border":  # the picture ends across the face: zero beyond a line
        target = mesh[int(rng.choice([13, 1, 159, 386, 33, 263])), :2]
        ang = rng.uniform(0, 2 * np.pi)
        d = np.array([np.cos(ang), np.sin(ang)])
        yy, xx = np.mgrid[0:h, 0:w]
        off = rng.uniform(-0.3, 0.5) * iod
        cover = (((np.stack([xx, yy], -1) - target) @ d) > off).astype(np.float32)
        out = out * (1 - cover[..., None])
    else:
        raise ValueError(kind)
    return out, cover


def thin_strands(rng, img, mesh):
    """A few thin hair strands across the forehead and an eye: not an occlusion in Rekognition's sense."""
    h, w = img.shape[:2]
    le, re, ex, ey, _ez, iod = face_frame(mesh)
    out = img.copy()
    col = np.array([(20, 15, 10), (60, 40, 25), (150, 110, 60), (210, 180, 120)][rng.integers(4)], np.float64)
    layer = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(1, 5)):
        e = le if rng.random() < 0.5 else re
        start = e[:2] - ey[:2] * iod * rng.uniform(0.6, 1.2) + ex[:2] * rng.normal(0, 0.3 * iod)
        end = e[:2] + ey[:2] * iod * rng.uniform(0.2, 0.8) + ex[:2] * rng.normal(0, 0.4 * iod)
        cv2.line(layer, tuple(int(v) for v in start * 4), tuple(int(v) for v in end * 4), 1.0, 1, cv2.LINE_AA, shift=2)
    return blend(out, np.ones((h, w, 1)) * col, layer * rng.uniform(0.5, 0.9))


# ---- facial hair -----------------------------------------------------------------------------------------------
LOWER_FACE = (132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 61, 291, 0, 17, 2,
              98, 327, 205, 425, 50, 280, 164, 200)


def facial_hair_area(rng, img, mesh, parts, full_beard):
    """0..1 mask of where facial hair goes: the jaw (with probability ``full_beard``, else the goatee's chin and
    mouth) for "beard", the upper lip for "mustache", never the lips."""
    area = np.zeros(img.shape[:2], np.float32)
    if "beard" in parts:
        area = np.maximum(area, hull_mask(img.shape, mesh, BEARD_AREA if rng.random() < full_beard else GOATEE_AREA))
    if "mustache" in parts:
        area = np.maximum(area, hull_mask(img.shape, mesh, MUSTACHE_AREA))
    return area * (1 - hull_mask(img.shape, mesh, LIPS, blur=0.5))


def hair_colour(rng):
    """An RGB hair colour: black, dark or mid brown, grey or near-black, lightened or darkened by up to 20 %."""
    return np.array([(25, 20, 15), (55, 40, 28), (95, 70, 45), (140, 125, 110), (30, 30, 30)][rng.integers(5)],
                    np.float64) * rng.uniform(0.8, 1.2)


def transfer_hair(rng, img, mesh, donor, donor_mesh, parts):
    """Facial hair of a real bearded crop moved onto another face: the donor's lower face is mapped onto the target's
    by the affine transform that best fits their lower-face points, and in the beard/moustache areas the target
    takes the donor's deviation from the donor's own skin (light and colour), so that texture and density are the
    donor's and the skin tone stays the target's. parts: subset of {"beard", "mustache"}."""
    h, w = img.shape[:2]
    src = donor_mesh[list(LOWER_FACE), :2].astype(np.float32)
    dst = mesh[list(LOWER_FACE), :2].astype(np.float32)
    aff, _ = cv2.estimateAffine2D(src, dst, method=cv2.LMEDS)
    if aff is None:
        return None
    warped = cv2.warpAffine(donor.astype(np.float32), aff, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    area = facial_hair_area(rng, img, mesh, parts, full_beard=0.6)
    # hair only where the donor has facial skin of its own: not its mouth (teeth, the dark gap of a smile), which
    # a different expression would otherwise put on the target's cheeks as black streaks
    donor_mouth = cv2.warpAffine(cv2.dilate(hull_mask(donor.shape, donor_mesh, LIPS), np.ones((5, 5), np.uint8)),
                                 aff, (w, h), flags=cv2.INTER_LINEAR)
    area = area * (1 - np.clip(donor_mouth, 0, 1))
    # nor outside the donor's photo (its crop is black there)
    inside = cv2.erode((donor.max(2) > 8).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(np.float32)
    area = area * cv2.warpAffine(inside, aff, (w, h), flags=cv2.INTER_LINEAR)
    area = cv2.GaussianBlur(area, (0, 0), 0.04 * w)
    lum_d = cv2.cvtColor(np.clip(warped, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32) + 1
    cheeks = hull_mask(img.shape, mesh, (50, 101, 118, 117, 123, 187, 205, 36)) + \
        hull_mask(img.shape, mesh, (280, 330, 347, 346, 352, 411, 425, 266))
    sel = cheeks > 0.5
    if sel.sum() < 10:
        return None
    skin = float(np.median(lum_d[sel]))
    ratio = lum_d / skin
    # hair density: how much darker than its own skin the donor is there (texture included), then hair of a
    # colour drawn here, modulated by the donor's own light and shade
    # from a short beard (the donor's texture, faint) to a full one
    density = np.clip((1 - ratio) * rng.uniform(1.4, 3.5), 0, 1) * area
    hair = hair_colour(rng)
    shade = np.clip(ratio / max(float(np.median(ratio[area > 0.5])) if (area > 0.5).any() else 1.0, 1e-3), 0.5, 1.6)
    return img * (1 - density[..., None]) + (hair * shade[..., None]) * density[..., None]


def stubble(rng, img, mesh):
    """Light stubble (a faint dotted shadow over the jaw and upper lip): Rekognition's Beard and Mustache stay false.
    Kept clearly fainter than short_beard (darkening up to 0.06 + 0.1 in dots against 0.15 + 0.25), so that the two
    do not ask the network for opposite answers on the same look."""
    h, w = img.shape[:2]
    area = np.maximum(hull_mask(img.shape, mesh, BEARD_AREA), hull_mask(img.shape, mesh, MUSTACHE_AREA))
    area = cv2.GaussianBlur(area * (1 - hull_mask(img.shape, mesh, LIPS)), (0, 0), 0.03 * w)
    dots = (rng.random((h, w)) < rng.uniform(0.03, 0.12)).astype(np.float32)
    dots = cv2.GaussianBlur(dots, (0, 0), 0.6)
    dark = area * (rng.uniform(0.02, 0.06) + dots * rng.uniform(0.03, 0.1))
    return img * (1 - dark[..., None])


def short_beard(rng, img, mesh, parts):
    """Heavy stubble, a short beard, a goatee or a short moustache drawn as hair, not moved from a donor: dense short
    strokes of a hair colour over the chosen area (the whole jaw, or the chin and mouth), on a base shade. Rekognition
    calls these Beard / Mustache. parts: subset of {"beard", "mustache"}."""
    h, w = img.shape[:2]
    area = facial_hair_area(rng, img, mesh, parts, full_beard=0.55)
    area = cv2.GaussianBlur(area, (0, 0), rng.uniform(0.015, 0.04) * w)
    # short strokes: random seeds smeared along a random direction near vertical (hair grows downwards)
    seeds = (rng.random((h, w)) < rng.uniform(0.25, 0.6)).astype(np.float32)
    length = int(rng.integers(2, 6))
    ang = rng.uniform(-0.6, 0.6)
    k = np.zeros((2 * length + 1, 2 * length + 1), np.float32)
    for t in np.linspace(-length, length, 4 * length + 1):
        k[int(round(length + t * np.cos(ang))), int(round(length + t * np.sin(ang)))] = 1.0
    strokes = np.clip(cv2.filter2D(seeds, -1, k / k.sum() * rng.uniform(1.5, 3.0)), 0, 1)
    density = area * np.clip(rng.uniform(0.15, 0.4) + strokes * rng.uniform(0.25, 0.55), 0, 0.95)
    hair = hair_colour(rng)
    return img * (1 - density[..., None]) + hair * density[..., None]


def dark_sockets(rng, img, mesh):
    """Deep-set eyes: a dark ring round each eye, from the brow to the cheek, where a rim would also darken the face;
    the eyes themselves are left as they are."""
    h, w = img.shape[:2]
    le, re, ex, ey, _ez, iod = face_frame(mesh)
    m = np.zeros((h, w), np.float32)
    for e in (le, re):
        c = e[:2] - ey[:2] * iod * rng.uniform(-0.05, 0.08)
        ax = (int(iod * rng.uniform(0.3, 0.42) * 4), int(iod * rng.uniform(0.18, 0.3) * 4))
        cv2.ellipse(m, (int(c[0] * 4), int(c[1] * 4)), ax, float(np.degrees(np.arctan2(ex[1], ex[0]))),
                    0, 360, 1.0, max(1, int(iod * rng.uniform(0.06, 0.14))), cv2.LINE_AA, shift=2)
    m = cv2.GaussianBlur(m, (0, 0), rng.uniform(0.04, 0.1) * iod + 1)
    m = m * (1 - np.maximum(hull_mask(img.shape, mesh, LEFT_EYE), hull_mask(img.shape, mesh, RIGHT_EYE)))
    return img * (1 - np.clip(m, 0, 1)[..., None] * rng.uniform(0.2, 0.5))


# ---- hard negatives --------------------------------------------------------------------------------------------
def hard_negative(rng, img, mesh):
    """Plain-face variations that fool region measurements: strong eyebrows, shadows under the eyes, dark rings round
    deep-set eyes, darker skin, make-up (eyeliner, lipstick), light stubble, thin hair strands."""
    h, w = img.shape[:2]
    out = img.copy()
    le, re, ex, ey, _ez, iod = face_frame(mesh)
    kinds = rng.choice(["brows", "shadow", "dark_skin", "makeup", "stubble", "strands", "jaw_shadow", "sockets"],
                       size=rng.integers(1, 3), replace=False, p=[0.13, 0.12, 0.12, 0.1, 0.15, 0.07, 0.16, 0.15])
    for k in kinds:
        if k == "brows":
            m = np.maximum(hull_mask(img.shape, mesh, LEFT_BROW, 0.6), hull_mask(img.shape, mesh, RIGHT_BROW, 0.6))
            out = out * (1 - m[..., None] * rng.uniform(0.3, 0.7))
        elif k == "shadow":
            m = np.zeros((h, w), np.float32)
            for e in (le, re):
                c = e[:2] + ey[:2] * iod * 0.22
                cv2.ellipse(m, (int(c[0] * 4), int(c[1] * 4)), (int(iod * 0.3 * 4), int(iod * 0.1 * 4)),
                            float(np.degrees(np.arctan2(ex[1], ex[0]))), 0, 360, 1.0, -1, cv2.LINE_AA, shift=2)
            m = cv2.GaussianBlur(m, (0, 0), 0.05 * iod + 1)
            out = out * (1 - m[..., None] * rng.uniform(0.2, 0.45))
        elif k == "dark_skin":
            g = rng.uniform(1.3, 2.2)
            out = 255.0 * (out / 255.0) ** g * np.array([1.0, 0.95, 0.9])
        elif k == "makeup":
            layer = np.zeros((h, w), np.float32)
            for idx in ((33, 246, 161, 160, 159, 158, 157, 173, 133), (263, 466, 388, 387, 386, 385, 384, 398, 362)):
                cv2.polylines(layer, [np.round(mesh[list(idx), :2] * 4).astype(np.int32)], False, 1.0,
                              max(1, int(0.04 * iod)), cv2.LINE_AA, shift=2)
            out = blend(out, np.zeros((h, w, 3)), layer * rng.uniform(0.5, 0.9))
            lips = hull_mask(img.shape, mesh, LIPS, 0.5)
            col = np.array([(170, 20, 40), (120, 30, 50), (200, 80, 90)][rng.integers(3)], np.float64)
            out = blend(out, np.ones((h, w, 1)) * col, lips * rng.uniform(0.3, 0.6))
        elif k == "stubble":
            out = stubble(rng, out, mesh)
        elif k == "sockets":
            out = dark_sockets(rng, out, mesh)
        elif k == "jaw_shadow":  # shade under the chin and along the jaw (light from above), no hair texture
            m = hull_mask(img.shape, mesh, BEARD_AREA if rng.random() < 0.5 else GOATEE_AREA)
            m = cv2.GaussianBlur(m, (0, 0), 0.08 * w) * (1 - hull_mask(img.shape, mesh, LIPS, 0.5))
            out = out * (1 - m[..., None] * rng.uniform(0.15, 0.4))
        else:
            out = thin_strands(rng, out, mesh)
    return np.clip(out, 0, 255)


# ---- photometric and geometric jitter --------------------------------------------------------------------------
def jitter(rng, img, out_size):
    """Small similarity jitter, light/colour changes, the blur of a small or out-of-focus face, noise, JPEG; then
    area-averaged to out_size as at run time."""
    h, w = img.shape[:2]
    ang = rng.normal(0, 4)
    sc = rng.uniform(0.94, 1.06)
    m = cv2.getRotationMatrix2D((w / 2 + rng.normal(0, 0.02 * w), h / 2 + rng.normal(0, 0.02 * h)), ang, sc)
    img = cv2.warpAffine(img.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    img = img * rng.uniform(0.6, 1.3) + rng.uniform(-25, 25)
    img = img * rng.uniform(0.9, 1.1, 3)
    if rng.random() < 0.1:
        img = np.repeat(img.mean(2, keepdims=True), 3, 2)
    img = np.clip(img, 0, 255)
    # the face's size in the photo: faces of 24-60 px look like this after the chip's upsampling
    if rng.random() < 0.5:
        small = int(rng.uniform(28, 90))
        img = cv2.resize(cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA), (w, h),
                         interpolation=cv2.INTER_LINEAR)
    elif rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.5))
    out = cv2.resize(img, (out_size, out_size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        out = out + rng.normal(0, rng.uniform(1, 6), out.shape)
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        q = int(rng.uniform(35, 90))
        out = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_UNCHANGED)
    return out
