"""The course's tooling, not the library: the ``ftkit`` command (``cli``), the machine check
(``doctor``), the headless lesson runner (``lesson_runner``) and peak-memory measurement
(``procmem``)."""
