"""The face-track logic of the tracks stage on detections made by hand: linking, shot cuts, the
choice of the speaking face, gaps and segments."""
from __future__ import annotations

import numpy as np

from unisync_model.extract.faces import link_faces, speaking_face, track_array
from unisync_model.io.track_array import SEGMENT, TRACK_COLUMNS, segments_of
from unisync_model.training.windows import segment_windows


def face(x: float, y: float, side: float) -> np.ndarray:
    """A detection row: box, 5 keypoints (at the box centre, enough here), score."""
    row = np.zeros(15, np.float32)
    row[:4] = x, y, x + side, y + side
    row[4:14] = np.tile([x + side / 2, y + side / 2], 5)
    row[14] = 0.9
    return row


def frames(*faces_per_frame: list[np.ndarray]) -> list[np.ndarray]:
    return [np.stack(f) if f else np.zeros((0, 15), np.float32) for f in faces_per_frame]


def test_two_people_make_two_tracks_and_the_consistent_one_wins():
    # A big face seen for 6 frames, a smaller one seen in all 40: the speaking face is the one seen all along.
    detections = frames(*[[face(100, 100, 60)] + ([face(10, 10, 100)] if t < 6 else []) for t in range(40)])
    tracks = link_faces(detections, np.zeros(40, bool), max_gap=3)
    assert sorted(len(t.frames) for t in tracks) == [6, 40]
    kept = speaking_face(tracks, min_face_ratio=0.5)
    assert len(kept) == 1 and len(kept[0].frames) == 40 and kept[0].faces[0][0] == 100


def test_a_shot_change_ends_a_track_even_where_boxes_overlap():
    detections = frames(*[[face(50, 50, 80)] for _ in range(20)])
    cuts = np.zeros(20, bool)
    cuts[12] = True
    tracks = link_faces(detections, cuts, max_gap=3)
    assert [(t.frames[0], t.frames[-1]) for t in tracks] == [(0, 11), (12, 19)]
    track = track_array(20, speaking_face(tracks, 0.5), smooth_frames=3)
    assert segments_of(track) == [(0, 12), (12, 20)]


def test_short_gaps_are_bridged_and_long_gaps_cut():
    present = [t not in (5, 6) and not 20 <= t < 30 for t in range(45)]  # a 2-frame and a 10-frame gap
    detections = frames(*[[face(40 + t, 40, 80)] if p else [] for t, p in enumerate(present)])
    tracks = link_faces(detections, np.zeros(45, bool), max_gap=4)
    track = track_array(45, speaking_face(tracks, 0.5), smooth_frames=1)
    assert track.shape == (45, len(TRACK_COLUMNS))
    assert segments_of(track) == [(0, 20), (30, 45)]
    detected = track[:, TRACK_COLUMNS.index("detected")]
    assert detected[5] == 0 and detected[4] == 1 and track[25, SEGMENT] == -1
    assert np.isclose(track[5, 0], 45)  # interpolated inside the segment: x1 moves one pixel a frame
    assert np.isclose(track[25, 0], 40 + 25)  # outside every segment: between the segments' boxes
    assert np.isclose(track[44, 0], 40 + 44) and np.isclose(track[0, 0], 40)


def test_a_smaller_face_after_a_cut_is_someone_else_and_a_similar_one_is_kept():
    audience = frames(*[[face(50, 50, 100)] for _ in range(20)] + [[face(20, 20, 30)] for _ in range(20)])
    anchor_again = frames(*[[face(50, 50, 100)] for _ in range(20)] + [[face(60, 40, 90)] for _ in range(20)])
    cuts = np.zeros(40, bool)
    cuts[20] = True
    for detections, expected in ((audience, [(0, 20)]), (anchor_again, [(0, 20), (20, 40)])):
        kept = speaking_face(link_faces(detections, cuts, max_gap=3), min_face_ratio=0.5)
        assert segments_of(track_array(40, kept, smooth_frames=1)) == expected


def test_tracks_shorter_than_a_window_are_dropped():
    detections = frames(*[[face(50, 50, 80)] if t < 4 else [] for t in range(30)])
    assert speaking_face(link_faces(detections, np.zeros(30, bool), max_gap=3), 0.5) == []


def test_segment_windows_stay_inside_their_segment_and_the_audio():
    # 100 video frames, Mel audio for 60 frames (192 Mel frames): windows need 16 Mel frames.
    rows = segment_windows([(0, 30), (40, 100), (98, 100)], visual_frames=100, audio_frames=192,
                           audio_feature="mel")
    assert rows[0] == (0, 26)  # starts 0..25: the last window covers frames 25..29
    first, windows = rows[1]
    last_start = first + windows - 1
    assert first == 40 and last_start + 5 <= 100 and np.ceil(3.2 * last_start) + 16 <= 192
    assert np.ceil(3.2 * (last_start + 1)) + 16 > 192  # and it is the last one the audio allows
    assert len(rows) == 2  # the 2-frame segment gives no window
