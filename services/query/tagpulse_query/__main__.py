"""python -m tagpulse_query: run the gRPC query service."""

from tagpulse_query.server import serve

if __name__ == "__main__":
    serve()
