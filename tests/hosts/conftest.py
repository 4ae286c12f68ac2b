"""Session setup for the real-host tests."""

import os

from encore_host import REPO

# The tests read the plugin's counters from its saved state, which carries them only where this
# is set (plugin::diagnostics); set before any plugin is loaded.
os.environ.setdefault("ENCORE_DIAGNOSTICS", "1")

# The debug plugin logs at DEBUG level through nice-plug's logger; keep that out of the test
# output (it would swamp it, see pytest.ini) and in a file CI can show when something fails.
PLUGIN_LOG = REPO / "target" / "host-tests-plugin.log"


def pytest_configure(config):
    if "NICE_LOG" not in os.environ:
        PLUGIN_LOG.parent.mkdir(parents=True, exist_ok=True)
        PLUGIN_LOG.write_text("")
        os.environ["NICE_LOG"] = str(PLUGIN_LOG)


def pytest_report_header(config):
    return f"plugin log (NICE_LOG): {os.environ['NICE_LOG']}"
