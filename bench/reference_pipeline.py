"""The same DetectFaces pipeline written with numpy and OpenCV only: the baseline the C++ core is measured
against (same models, same decode rules, same geometry; cv2 resize/warp, numpy decode, cv2 NMS, numpy SVD).
"""

import math

import cv2
import numpy as np

from facelens.engine.mesh import CROP, mirror_permutation, roi_affine
from facelens.engine.parallel import Occupancy, SlicedSession, SpinWhenAlone
from facelens.models import registry
from facelens.pipeline import EYE_CORNERS, EYEBALL_DEPTH_CM, EYEBALL_RADIUS_CM, IRIS


def umeyama(points, reference):
    mp, mq = points.mean(0), reference.mean(0)
    pc, qc = points - mp, reference - mq
    u, s, vt = np.linalg.svd(pc.T @ qc / len(points))
    d = np.sign(np.linalg.det(u @ vt))
    dm = np.diag([1.0, 1.0, d])
    rot = u @ dm @ vt
    scale = (s * np.diag(dm)).sum() / ((qc ** 2).sum() / len(points))
    return rot, scale, mp - scale * rot @ mq


class ReferencePipeline:
    def __init__(self):
        # the networks run as the engine runs them (a lone request: spinning pool threads, crops one per run)
        alone = Occupancy()
        self.det = SpinWhenAlone("centerface.onnx", None, None, None, alone)
        self.mesh = SlicedSession("face_landmarks_detector.onnx", occupancy=alone)
        self.blend = registry.session("face_blendshapes.onnx")
        self.blend_idx = np.asarray(registry.manifest()["blendshape_landmark_indices"])
        canon = registry.load_npz("canonical_face_mesh.npz")["vertices"]
        self.perm = mirror_permutation(canon)
        self.canonical = canon[:468] * np.array([1, -1, -1])
        self.eyeballs = [(self.canonical[o] + self.canonical[i]) / 2 + [0, 0, EYEBALL_DEPTH_CM] for o, i in EYE_CORNERS]

    def gaze(self, pts):
        """The geometric eye model of facelens' C++ eye_direction, in numpy (without the blendshape blend)."""
        rot, scale, t = umeyama(pts[:468], self.canonical)
        g = np.zeros(3)
        for k, iris in enumerate(IRIS):
            c = scale * rot @ self.eyeballs[k] + t
            v = (pts[iris, :2] - c[:2]) / (scale * EYEBALL_RADIUS_CM)
            v = v * min(1.0, 0.98 / max(np.linalg.norm(v), 1e-9))
            g += np.array([v[0], v[1], -math.sqrt(max(0.0, 1 - v @ v))])
        return math.degrees(math.atan2(-g[0], -g[2])), math.degrees(math.atan2(-g[1], math.hypot(g[0], g[2])))

    def scan(self, rgb, side, threshold=0.5):
        """CenterFace with the image's longer side at ``side``: boxes, five points and scores, largest first."""
        h, w = rgb.shape[:2]
        r = min(side / max(w, h), 2.0)
        in_w, in_h = math.ceil(w * r / 32) * 32, math.ceil(h * r / 32) * 32
        r = min(in_w / w, in_h / h)
        rw, rh = round(w * r), round(h * r)
        x = np.zeros((1, 3, in_h, in_w), np.float32)
        x[0, :, :rh, :rw] = cv2.resize(rgb, (rw, rh)).transpose(2, 0, 1)
        hm, sc, off, lm = self.det.run(None, {self.det.get_inputs()[0].name: x})
        ys, xs = np.nonzero(hm[0, 0] > threshold)
        s0 = np.exp(sc[0, 0, ys, xs]) * 4
        s1 = np.exp(sc[0, 1, ys, xs]) * 4
        x1 = np.maximum(0, (xs + off[0, 1, ys, xs] + 0.5) * 4 - s1 / 2)
        y1 = np.maximum(0, (ys + off[0, 0, ys, xs] + 0.5) * 4 - s0 / 2)
        boxes = np.stack([x1, y1, x1 + s1, y1 + s0], 1) / r
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        pts = np.stack([lm[0, 1::2, ys, xs] * s1[:, None] + x1[:, None],
                        lm[0, 0::2, ys, xs] * s0[:, None] + y1[:, None]], -1) / r
        scores = hm[0, 0, ys, xs]
        rects = np.c_[boxes[:, :2], boxes[:, 2:] - boxes[:, :2]].tolist()
        keep = cv2.dnn.NMSBoxes(rects, scores.tolist(), threshold, 0.3)
        keep = np.asarray(keep, dtype=np.int64).reshape(-1)
        boxes, pts, scores = boxes[keep], pts[keep], scores[keep]
        order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), kind="stable")[:100]
        return boxes[order], pts[order], scores[order]

    def detect(self, data: bytes, eyes: bool):
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        rgb = bgr[:, :, ::-1]
        h, w = rgb.shape[:2]
        # the detector's first look (facelens.engine.detector FIRST_LOOK_*): at 320 px, the answer when every peak
        # above 0.25 is a face above 0.5 at least 20 px on its shorter side there
        boxes, pts, scores = self.scan(rgb, 320, 0.25)
        sizes = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * 320 / max(w, h)
        if not (len(boxes) and (scores >= 0.5).all() and sizes.min() >= 20 and max(w, h) > 320):
            boxes, pts, scores = self.scan(rgb, 640)
        if len(boxes) == 0:
            return []
        batch = np.empty((len(boxes), CROP, CROP, 3), np.float32)
        affines = []
        for i in range(len(boxes)):
            m = roi_affine(boxes[i], pts[i, :2]).astype(np.float64)
            ms = m.copy()
            ms[:, 2] = m[:, :2] @ [0.5, 0.5] + m[:, 2] - 0.5
            batch[i] = cv2.warpAffine(np.ascontiguousarray(rgb), ms, (CROP, CROP),
                                      flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP) / np.float32(255)
            affines.append(m)
        n = len(boxes)
        if eyes:
            batch = np.concatenate([batch, batch[:, :, ::-1]])
        raw = self.mesh.run(None, {self.mesh.get_inputs()[0].name: batch})[0].reshape(len(batch), 478, 3)
        faces = []
        for i, m in enumerate(affines):
            crop_pts = raw[i]
            img_pts = np.c_[crop_pts[:, :2] @ m[:, :2].T + m[:, 2], crop_pts[:, 2] * math.sqrt(abs(np.linalg.det(m[:, :2])))]
            rot, _scale, _t = umeyama(img_pts[:468], self.canonical)
            yaw = math.degrees(math.atan2(rot[0, 2], rot[2, 2]))
            pitch = -math.degrees(math.asin(-rot[1, 2]))
            roll = math.degrees(math.atan2(rot[1, 0], rot[1, 1]))
            x1, y1, x2, y2 = boxes[i].astype(int)
            crop = cv2.cvtColor(np.ascontiguousarray(rgb[max(0, y1):y2, max(0, x1):x2]), cv2.COLOR_RGB2GRAY)
            crop = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
            quality = (crop.mean(), cv2.Laplacian(crop, cv2.CV_32F, ksize=1)[1:-1, 1:-1].var())
            face = {"box": boxes[i], "pose": (yaw, pitch, roll), "quality": quality}
            if eyes:
                back = raw[n + i, self.perm].copy()
                back[:, 0] = CROP - back[:, 0]
                sym = (crop_pts + back) / 2
                sub = sym[self.blend_idx, :2][None].astype(np.float32)
                face["blendshapes"] = self.blend.run(None, {self.blend.get_inputs()[0].name: sub})[0]
                sym_img = np.c_[sym[:, :2] @ m[:, :2].T + m[:, 2], sym[:, 2] * math.sqrt(abs(np.linalg.det(m[:, :2])))]
                face["gaze"] = self.gaze(sym_img)
            faces.append(face)
        return faces
