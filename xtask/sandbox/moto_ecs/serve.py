"""moto's server with the EventFlow sandbox's ECS scheduler (README.md): the same arguments as
`moto_server`. Run with the moto venv's Python."""

import sys

import router
import scheduler

if __name__ == "__main__":
    scheduler.install()
    router.install()
    from moto.server import main

    main(sys.argv[1:])
