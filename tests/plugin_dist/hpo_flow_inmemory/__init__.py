"""A backend of another distribution's, as docs/new-backend.md builds one: a folder and an entry point.

Installed for a test by putting tests/plugin_dist on the path (its dist-info is what pip would
leave); hpo-flow finds it through the `hpo_flow.backends` entry point, and nothing in hpo-flow names it.
"""
