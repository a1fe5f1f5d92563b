"""Shared library of the tagpulse services.

Both services import it; neither imports the other. It holds one copy of each idea: the
generated contract (`tagpulse.v1`), settings, the database schema and migrations, logging,
metrics, tracing and the gRPC server bootstrap.
"""
