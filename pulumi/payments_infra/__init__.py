"""The payment platform's Pulumi program, one module per concern.

* ``app_model``: the Chalice app as the deployment sees it; the route -> function table.
* ``grants``: the per-function grant table (least privilege).
* ``naming``: stage names and AWS name-length limits.
* ``keys``, ``datastore``, ``functions``, ``api``, ``operations``: one ComponentResource each.

``pulumi/__main__.py`` only reads the stack config and composes them.

Importing the package puts ``chalice_app/`` on ``sys.path``, so every module imports
``chalicelib`` (the tables, the error catalogue, the card vault's constants) normally.
"""

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHALICE_DIR = PROJECT_ROOT / "chalice_app"

if str(CHALICE_DIR) not in sys.path:
    sys.path.insert(0, str(CHALICE_DIR))
