"""`energychain-web`: serve the role portals and the /api proxy on EC_WEB_HOST:EC_WEB_PORT (127.0.0.1:8100)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    """Entry point: `energychain-web [serve]`."""
    parser = argparse.ArgumentParser(prog="energychain-web", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.parse_args(argv)

    import uvicorn

    from energychain_shared.observability import configure_logging
    from energychain_shared.settings import SERVER_KEEP_ALIVE_S, SERVER_MAX_HEAD_BYTES, load_settings

    from energychain_web import SERVICE_NAME
    from energychain_web.app import create_app
    from energychain_web.settings import WebSettings

    settings = load_settings(WebSettings)
    configure_logging(SERVICE_NAME, settings.log_level)
    if not (settings.web_dist_dir / "index.html").is_file():
        print(f"energychain-web: EC_WEB_DIST_DIR={settings.web_dist_dir} has no index.html: run web/build.sh "
              "(serving a notice until then)", file=sys.stderr)
    uvicorn.run(create_app(settings), host=settings.web_host, port=settings.web_port, log_config=None,
                timeout_keep_alive=SERVER_KEEP_ALIVE_S, h11_max_incomplete_event_size=SERVER_MAX_HEAD_BYTES)


if __name__ == "__main__":
    main()
