"""``make run``: the whole platform on this machine. Ctrl-C stops it."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .runtime import LocalPlatform
from .seed import seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchestre_local", description=__doc__)
    parser.add_argument("--port", type=int, default=3000, help="API port (default 3000)")
    parser.add_argument("--aws-port", type=int, default=4566, help="embedded moto server port (default 4566)")
    parser.add_argument("--no-seed", action="store_true", help="start without demo data")
    parser.add_argument("--verbose", action="store_true", help="function logs at INFO")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, flush=True)

    platform = LocalPlatform(moto_port=args.aws_port, api_port=args.port, quiet=not args.verbose)
    try:
        platform.start(log=log)
    except OSError as exc:
        print(f"cannot start: {exc} (is another instance running? choose --port / --aws-port)", file=sys.stderr)
        return 1
    from .openapi import write

    write()  # the OpenAPI document of the code as it is now
    demo = None if args.no_seed else seed(platform.gateway)
    print(f"""
Orchestre is running.
  API           {platform.api_url}/v1
  Swagger UI    {platform.api_url}/swagger
  OpenAPI       {platform.api_url}/openapi.json
  AWS (moto)    {platform.aws_url}   (AWS_ENDPOINT_URL for the aws CLI / boto3; credentials: local/local)
""", flush=True)
    if demo:
        print(f"""Demo data (password for both users: {demo['password']})
  public buyer  Ville de Démonstration   SIRET {demo['buyer']['siret']}   id {demo['buyer']['structure_id']}
                services SERV-FIN, SERV-TECH (EJ required); user {demo['buyer']['user']}
  supplier      Société Démo SAS         SIRET {demo['supplier']['siret']}   id {demo['supplier']['structure_id']}
                user {demo['supplier']['user']}
""", flush=True)
    print("Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    print("\nstopping…", flush=True)
    platform.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
