"""Where posts come from. Every source yields `Page`s of posts with their authors."""

from tagpulse_collector.sources.base import Author, CollectedPost, Page, Source

__all__ = ["Author", "CollectedPost", "Page", "Source"]
