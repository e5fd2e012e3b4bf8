"""Localized stylization of video: readers and writers, tracking, flow-guided temporal stability, chunked runs."""
from localstyle.video.reader import VIDEO_EXTENSIONS, is_video_input, open_video
from localstyle.video.runner import VideoRunner
from localstyle.video.synthetic import SyntheticClip, tiny_clip, write_synthetic_clip
from localstyle.video.tracker import InstanceTracker

__all__ = ["VIDEO_EXTENSIONS", "InstanceTracker", "SyntheticClip", "VideoRunner", "is_video_input", "open_video",
           "tiny_clip", "write_synthetic_clip"]
