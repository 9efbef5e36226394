"""The image's HEALTHCHECK: exit 0 when GET /health answers 200 (the model is loaded).

Standard library only, so the runtime image needs no curl. /health needs no API key and
answers 503 while the model loads; the port is the container's FREEHOLD_PORT.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("FREEHOLD_PORT", "8000")
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    except OSError as err:
        print(f"{url}: {err}", file=sys.stderr)
        return 1
    print(f"{url}: HTTP {status}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
