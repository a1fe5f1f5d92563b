"""Removing posts: the one deletion path (`posts.delete_posts`) that retention, deletion on
request and upstream compliance all use, so every rollup stays exact."""
