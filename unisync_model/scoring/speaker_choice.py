"""Which face is the speaker: chosen by sync (`tracks.speaker: sync`, `unisync score`'s default) or
the largest face (`largest`, the rule before issue 19).

With several faces on screen (an interview, two people side by side) the largest face is not always
the one speaking. Under "sync" every face track long enough (faces.usable_tracks) is scored, and in
each shot the track whose sync confidence is highest is the speaker (faces.speaking_face_by_sync).
The tracks are scored a group at a time, each group tracks apart in time (faces.layers), so one
group fits in one track array and is one `score_clip` call: as many calls as the most faces seen at
once, not one per track. The video's numbers are then those of the chosen tracks' clip, scored by the
same call as a one-face video (so every route pools alike); the other tracks' segments are added to
the result with their own numbers, `chosen` False, for segments.csv and scores.json. With one face,
or faces that never overlap in time and are all of the speaker's size, the first group is the choice
and nothing is scored twice.

The shard route (shard_route.py) scores the one track the tracks stage stored and chooses nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from unisync_model.extract.faces import FaceTrack, layers, speaker_rule, speaking_face_by_sync, track_array
from unisync_model.scoring.results import SegmentScore, VideoScore
from unisync_model.scoring.scorers import ClipData, Scorer
from unisync_model.settings import TracksSettings

DEFAULT_RULE = "sync"  # `unisync score`'s rule when tracks.speaker is null
Score = Callable[[ClipData], VideoScore]  # results.score_clip with the run's arguments


@dataclass
class SpeakerChoice:
    """The chosen tracks' clip (what the video's numbers pool), the track id of each of its segments,
    the other tracks' scored segments, and the clip's score when the choice computed it already."""

    clip: ClipData
    track_ids: list[int]
    others: list[SegmentScore] = field(default_factory=list)
    result: VideoScore | None = None

    def scored(self, score: Score) -> VideoScore:
        """The video's score: the chosen clip's (computed once), every track's segments in time order,
        each with its track id and whether it was chosen."""
        result = self.result if self.result is not None else score(self.clip)
        if len(result.segments) != len(self.track_ids):  # a scorer that made its own segments: leave them
            return result
        for segment, track_id in zip(result.segments, self.track_ids):
            segment.track, segment.chosen = track_id, True
        if self.others:
            result.segments = sorted(result.segments + self.others, key=lambda s: (s.first_frame, s.track))
            for index, segment in enumerate(result.segments):
                segment.index = index
        return result


class SpeakerChooser:
    """Builds a clip of some of a video's face tracks (their track array, the arrays the frame reader
    computed for them during the one decode, then what the scorer prepares) and chooses among them."""

    def __init__(self, base: ClipData, candidates: list[FaceTrack], kept: list[FaceTrack], kept_track: np.ndarray,
                 reader, scorer: Scorer, settings: TracksSettings):
        self.base, self.candidates, self.kept, self.kept_track = base, candidates, kept, kept_track
        self.reader, self.scorer, self.settings = reader, scorer, settings
        self.ids = {id(track): k for k, track in enumerate(candidates)}

    def clip(self, tracks: list[FaceTrack]) -> ClipData:
        n = len(self.kept_track)
        same = [id(t) for t in tracks] == [id(t) for t in self.kept]
        clip = ClipData(clip_id=self.base.clip_id, path=self.base.path, samples=self.base.samples,
                        audio_stream=self.base.audio_stream,
                        track=self.kept_track if same else track_array(n, tracks, self.settings.smooth_frames))
        if self.reader is not None:
            clip.arrays.update(self.reader.arrays(tracks, n))
        self.scorer.prepare(clip)
        return clip

    def largest(self) -> SpeakerChoice:
        """The "largest" rule's tracks (the tracks stream's own choice)."""
        return SpeakerChoice(self.clip(self.kept), [self.ids[id(t)] for t in self.kept])

    def by_sync(self, score: Score) -> SpeakerChoice:
        """Every candidate scored, a group of tracks apart in time at a time; the most confident face
        of each shot chosen."""
        segments: dict[int, SegmentScore] = {}
        groups = []
        for group in layers(self.candidates):
            clip = self.clip(group)
            result = score(clip)
            if len(result.segments) != len(group):
                raise RuntimeError(f"{len(result.segments)} scored segments for {len(group)} face tracks")
            for track, segment in zip(group, result.segments):
                segment.track, segment.chosen = self.ids[id(track)], False
                segments[id(track)] = segment
            groups.append((group, clip, result))
        confidences = [None if segments[id(t)].reason is not None else segments[id(t)].confidence
                       for t in self.candidates]
        chosen = speaking_face_by_sync(self.candidates, confidences, self.settings.min_face_ratio)
        chosen_ids = [id(t) for t in chosen]
        others = [segments[id(t)] for t in self.candidates if id(t) not in chosen_ids]
        track_ids = [self.ids[key] for key in chosen_ids]
        for group, clip, result in groups:
            if [id(t) for t in group] == chosen_ids:  # this group is the choice: scored already
                return SpeakerChoice(clip, track_ids, others, result)
        return SpeakerChoice(self.clip(chosen), track_ids, others)


def choose_speaker(base: ClipData, candidates: list[FaceTrack], kept: list[FaceTrack], kept_track: np.ndarray,
                   reader, scorer: Scorer, settings: TracksSettings, score: Score) -> SpeakerChoice:
    """The speaker's tracks by settings.speaker (null: sync) among a video's usable face tracks
    (`candidates`, whose index is the track id), given the "largest" rule's tracks and track array
    (`kept`, `kept_track`: track_stream's), the frame reader that followed the decode (or None) and how
    a clip is scored."""
    chooser = SpeakerChooser(base, candidates, kept, kept_track, reader, scorer, settings)
    if speaker_rule(settings, DEFAULT_RULE) == "largest" or len(candidates) <= 1:
        return chooser.largest()
    return chooser.by_sync(score)
