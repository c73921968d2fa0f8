"""UniSync: audio-visual synchronisation scored as the cosine similarity of an audio and a visual embedding."""
__version__ = "0.1.0"
