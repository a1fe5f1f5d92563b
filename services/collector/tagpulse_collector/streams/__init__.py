"""Keyword streams: rules and local matching, the readers of each source, the Redis Streams
buffer, the writer that stores buffered messages through the one ingestion path, and the manager
that runs them across collector replicas. Plain Python: the servicer only translates."""
