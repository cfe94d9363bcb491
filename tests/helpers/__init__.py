"""Code shared by tests and scripts: paths, hostile-input builders, the crash harness.

Imported as ``tests.helpers.<module>`` (``tests`` is a package, so pytest puts the
repository root on ``sys.path``; scripts run as ``python -m scripts.<name>`` from the root).
"""
