"""moto's server with the EventFlow sandbox's ECS scheduler (README.md): the same arguments as
`moto_server`. Run with the moto venv's Python."""

import sys

import ecr_registry
import router
import scheduler


def serve_one_request_at_a_time():
    """moto serves requests on threads and checks a DynamoDB condition and writes the item
    without a lock, so two conditional PutItems racing each other could both succeed, which
    DynamoDB never allows. Serving the API one request at a time gives each write the atomicity
    the deploy lease relies on (the lease race drill checks it). The scheduler and the router
    keep their own threads."""
    import moto.server

    run_simple = moto.server.run_simple
    moto.server.run_simple = lambda *a, **k: run_simple(*a, **{**k, "threaded": False})


if __name__ == "__main__":
    ecr_registry.install()
    scheduler.install()
    router.install()
    serve_one_request_at_a_time()
    from moto.server import main

    main(sys.argv[1:])
