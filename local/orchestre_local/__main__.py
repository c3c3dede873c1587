"""``make run``: the whole platform on this machine. Ctrl-C stops it."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from orchestre.platform import REPO_ROOT

from .runtime import LocalPlatform
from .seed import seed

DEFAULT_STATE_DIR = REPO_ROOT / ".local-data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchestre_local", description=__doc__)
    parser.add_argument("--port", type=int, default=3000, help="API port (default 3000)")
    parser.add_argument("--aws-port", type=int, default=4566, help="embedded moto server port (default 4566)")
    parser.add_argument("--no-seed", action="store_true", help="start without demo data (on a first start)")
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR),
                        help="where the data is kept across restarts (default: .local-data/ of the checkout)")
    parser.add_argument("--ephemeral", action="store_true", help="keep nothing: every start is a fresh platform")
    parser.add_argument("--no-schedules", action="store_true",
                        help="do not run the scheduled jobs on their timers (POST /_local/schedules/run still does)")
    parser.add_argument("--verbose", action="store_true", help="function logs at INFO")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, flush=True)

    state_dir = None if args.ephemeral else Path(args.state_dir)
    platform = LocalPlatform(moto_port=args.aws_port, api_port=args.port, quiet=not args.verbose,
                             state_dir=state_dir, schedules=not args.no_schedules)
    try:
        platform.start(log=log)
    except OSError as exc:
        print(f"cannot start: {exc} (is another instance running? choose --port / --aws-port)", file=sys.stderr)
        return 1
    from .files import atomic_write
    from .openapi import write

    write()  # the OpenAPI document of the code as it is now
    demo_file = state_dir / "demo.json" if state_dir else None
    if platform.restored is not None:
        demo = json.loads(demo_file.read_text(encoding="utf-8")) if demo_file and demo_file.exists() else None
        r = platform.restored
        print(f"Data restored from {state_dir}: {r['items']} items, {r['objects']} objects, {r['messages']} messages, "
              f"{r['users']} users ('make reset' starts afresh).", flush=True)
    else:
        demo = None if args.no_seed else seed(platform.gateway)
        if demo and demo_file:
            atomic_write(demo_file, json.dumps(demo, indent=2))
    kept = (f"kept in {state_dir} (saved every 2 s and on Ctrl-C; 'make reset' starts afresh)"
            if state_dir else "not kept (--ephemeral)")
    print(f"""
Orchestre is running.
  API           {platform.api_url}/v1
  Swagger UI    {platform.api_url}/swagger
  OpenAPI       {platform.api_url}/openapi.json
  AWS (moto)    {platform.aws_url}   (AWS_ENDPOINT_URL for the aws CLI / boto3; credentials: local/local)
  Local only    {platform.api_url}/_local/emails (emails sent), POST /_local/clock, POST /_local/schedules/run
  Data          {kept}
""", flush=True)
    if demo:
        print(f"""Demo data (password for every demo user: {demo['password']})
  public buyer  Ville de Démonstration   SIRET {demo['buyer']['siret']}   id {demo['buyer']['structure_id']}
                services SERV-FIN, SERV-TECH (EJ required); user {demo['buyer']['user']}
  supplier      Société Démo SAS         SIRET {demo['supplier']['siret']}   id {demo['supplier']['structure_id']}
                user {demo['supplier']['user']}
  operator      {demo.get('operator', {}).get('user', '-')}   (group operators: /v1/admin/...)
  court         Tribunal judiciaire de Lyon   code {demo.get('court', {}).get('code', '-')}   fees office \
{demo.get('court', {}).get('clerk', '-')}, magistrate {demo.get('court', {}).get('judge', '-')}
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
