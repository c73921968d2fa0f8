"""Speech gating (every scorer; scoring/speech_gate.py) and the "uncertain" answer of the training-free
scorer: silero-vad's model run in-process (as silero-vad's own wrapper runs it), pairs without speech
left out of the offset search and the confidence, "no speech" for a segment without enough of it (a
music-only clip among them), and the absolute check on the frontal speaking real clips (docs/scorers.md)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import SHARED, TEST_CLIPS
from test_score import SYNTHETIC, UNGATED, synthetic_clip

from unisync_model.extract.speech_activity import SpeechActivity
from unisync_model.io.media import audio_samples
from unisync_model.model.lse import distances, gated_curve, pair_mask
from unisync_model.scoring import results, speech_gate
from unisync_model.scoring.results import VideoScore, score_clip
from unisync_model.scoring.scorers.training_free import TrainingFreeScorer
from unisync_model.settings import ScoreSettings, TrainingFreeSettings

CLIPS = SHARED / "data" / "clips"
REAL_SPEECH = TEST_CLIPS / "vox_pcavs_Audio_Source_00086.mp4"
needs_shared = pytest.mark.skipif(not (CLIPS / "manifest.csv").is_file(),
                                  reason=f"needs {CLIPS}/manifest.csv (../shared absent)")


def test_the_onnx_session_gives_silero_vads_own_probabilities():
    """Our loop feeds the model as silero-vad's package does: same probabilities, chunk by chunk."""
    torch = pytest.importorskip("torch")
    from silero_vad import load_silero_vad

    samples = audio_samples(REAL_SPEECH)[:16000 * 3]
    ours = SpeechActivity().chunk_probabilities(samples)
    model = load_silero_vad()
    with torch.no_grad():
        theirs = [float(model(torch.from_numpy(samples[k * 512:(k + 1) * 512].copy()), 16000))
                  for k in range(len(samples) // 512)]
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_speech_is_found_in_speech_and_not_in_noise():
    samples = audio_samples(REAL_SPEECH)
    frames = len(samples) // 640
    speech = SpeechActivity().frame_probabilities(samples, frames)
    assert speech.shape == (frames,) and (speech >= 0.5).mean() > 0.7
    noise = synthetic_clip(0).samples  # band-passed noise with a syllable-rate envelope
    assert (SpeechActivity().frame_probabilities(noise, len(noise) // 640) >= 0.5).mean() < 0.05
    # frames past the samples' end are not speech
    assert (SpeechActivity().frame_probabilities(samples[:6400], 20)[10:] == 0).all()


def test_a_segment_without_speech_is_no_speech():
    """Band-passed noise that follows the mouth is not speech: the gate answers "no speech", with the
    share, and without the gate the same clip is scored."""
    clip = synthetic_clip(0)
    gated = score_clip(clip, TrainingFreeScorer(SYNTHETIC))
    assert not gated.ok and gated.reason.startswith("no speech") and gated.speech_share == 0.0
    assert score_clip(clip, TrainingFreeScorer(SYNTHETIC), settings=UNGATED).ok


def test_pairs_without_speech_neither_vote_nor_dilute(monkeypatch):
    """The second half of a clip's sound is replaced by loud noise the mouth does not follow, and marked
    as no speech. Gated, those pairs are left out: the answer and its confidence are those of the first
    half alone. Ungated, they vote too and dilute the confidence."""
    clip = synthetic_clip(3, frames=300)
    half = clip.frames // 2
    noise = np.random.default_rng(1).standard_normal(len(clip.samples) - half * 640).astype(np.float32)
    clip.samples[half * 640:] = 0.1 * noise
    speech = np.zeros(clip.frames, bool)
    speech[:half] = True
    monkeypatch.setattr(results, "frame_speech", lambda samples, frames, settings: speech[:frames] if settings.gate
                        else None)
    scorer = TrainingFreeScorer(SYNTHETIC)
    gated = score_clip(clip, scorer)
    ungated = score_clip(clip, scorer, settings=UNGATED)
    assert gated.ok and gated.offset == -3 and gated.speech_share == 0.5
    # the same numbers from the pairs whose audio window is speech, and only those
    seg = scorer.embed(clip)[0]
    audio_ok = speech_gate.window_speech(speech, 0, seg.windows, scorer.window, ScoreSettings().speech)
    assert audio_ok[:half - scorer.window].all() and not audio_ok[half:].any()
    alone = gated_curve(distances(seg.visual, seg.audio, 15, False), pair_mask(seg.windows, 15, audio_ok), 15)
    assert alone.best() == (gated.offset, pytest.approx(gated.min_dist), pytest.approx(gated.confidence))
    assert gated.confidence > ungated.confidence + 0.05, (gated.confidence, ungated.confidence)


@pytest.mark.parametrize("lead", [1, 2])
def test_the_lead_compares_the_mouth_with_later_sound(lead):
    """A mouth that moves `lead` frames before its sound (audio lagging by `lead`) reads in sync."""
    settings = TrainingFreeSettings(lead_frames=lead)
    assert score_clip(synthetic_clip(lead), TrainingFreeScorer(settings), settings=UNGATED).offset == 0
    assert score_clip(synthetic_clip(lead), TrainingFreeScorer(SYNTHETIC), settings=UNGATED).offset == -lead


def test_low_confidence_answers_uncertain():
    def video(confidence, offset=3, threshold=0.18):
        return VideoScore("v.mp4", "v", "training-free", offset=offset, min_dist=1.0, confidence=confidence,
                          uncertain_below=threshold)

    assert video(0.1).verdict == "uncertain" and "AV offset: uncertain (best guess 3" in video(0.1).line()
    assert video(0.3).verdict == "out of sync" and "AV offset: 3\t" in video(0.3).line()
    assert video(0.3, offset=-1).verdict == "in sync"
    assert video(0.1, threshold=None).verdict == "out of sync"  # a scorer without a threshold
    assert video(0.1).row()["verdict"] == "uncertain" and video(0.1).row()["offset_frames"] == 3


@needs_shared
def test_a_music_only_clip_is_no_speech():
    from unisync_model.scoring.scorers import scorer_from_settings
    from unisync_model.scoring.videos import score_video

    settings = ScoreSettings()
    scorer = scorer_from_settings("training-free", None, settings)
    result = score_video(CLIPS / "real" / "liveportrait_d6_music.mp4", scorer, settings)
    assert not result.ok and result.reason.startswith("no speech"), result.reason
    assert result.segments and result.speech_share < 0.2  # the face is found; the sound is music


@needs_shared
@pytest.mark.slow
def test_frontal_speaking_clips_answered_within_a_frame():
    """The absolute check of docs/scorers.md: unshifted, how many of the frontal speaking real clips are
    answered (not "uncertain") within ±1 frame of 0. The floor is the figure docs/scorers.md records."""
    from unisync_model.scoring import shift_study as study
    from unisync_model.scoring.scorers import scorer_from_settings
    from unisync_model.scoring.videos import score_video

    categories = study.clip_categories(CLIPS / "manifest.csv")
    frontal = sorted(p for p in (CLIPS / "real").iterdir() if categories.get(p.stem) == study.FRONTAL)
    assert len(frontal) == 20
    settings = ScoreSettings()
    scorer = scorer_from_settings("training-free", None, settings)
    verdicts = [score_video(p, scorer, settings).verdict for p in frontal]
    assert verdicts.count("in sync") >= 12, verdicts
