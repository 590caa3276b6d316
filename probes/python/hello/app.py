"""The smallest useful Python probe: fetch `url` and check it answers 200.

See README.md next to this file.
"""

import vigil
from vigil import http, log, step


@vigil.probe
def run():
    url = vigil.require_config("url")
    with step("fetch"):
        resp = http.get(url)
        vigil.metric("body_bytes", len(resp.body))
        log.info(
            f"GET {url}: status {resp.status} in {resp.elapsed * 1000:.0f}ms, "
            f"{len(resp.body)} bytes"
        )
        resp.expect_status(200)
