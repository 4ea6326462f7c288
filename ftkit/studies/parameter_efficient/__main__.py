"""``python -m ftkit.studies.parameter_efficient``: run (or resume) lesson 09's sweep."""

from ftkit.studies.parameter_efficient.runs import main

raise SystemExit(main())
