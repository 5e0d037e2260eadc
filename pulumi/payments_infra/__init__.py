"""The payment platform's Pulumi program, one module per concern.

* ``app_model``: the Chalice app as the deployment sees it; the route -> function table.
* ``grants``: the per-function grant table (least privilege).
* ``naming``: stage names and AWS name-length limits.
* ``keys``, ``datastore``, ``functions``, ``api``, ``operations``: one ComponentResource each.

``pulumi/__main__.py`` only reads the stack config and composes them.
"""
