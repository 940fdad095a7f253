"""The embedded demo data set: procedural, long-tailed multi-label landscape scenes (numpy + Pillow only)."""

from tailtag.demo.scenes import LABELS, Scene, make_demo_dataset, render_scene, sample_scene

__all__ = ["LABELS", "Scene", "make_demo_dataset", "render_scene", "sample_scene"]
