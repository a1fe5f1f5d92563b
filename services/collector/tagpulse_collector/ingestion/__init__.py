"""The one write path for posts: pages → distinct rows (`batches`), written set-based with their
rollups (`staging`); profile locations resolved to countries offline (`country`)."""
