"""`python -m hpo_flow.cli`: the `hpo-flow` command."""

from hpo_flow.cli import main

raise SystemExit(main())
