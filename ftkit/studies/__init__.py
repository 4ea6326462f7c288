"""The lessons' own experiments, one module per lesson topic.

Each module holds what exists only for its lesson: the experiment helpers, figures and
explorers, and the exercise checkers that both the notebook and ``tests/`` import. Nothing in
the core (``ftkit.*``) imports from here; the import-linter contract in ``pyproject.toml``
fails the test run if it does.

===========================  ===========================================
lesson                       module
===========================  ===========================================
00 welcome                   ``ftkit.studies.welcome``
01 anatomy                   ``ftkit.studies.anatomy``
02 feature extraction        ``ftkit.studies.feature_extraction``
03 freezing                  ``ftkit.studies.freeze_depth``
04 learning rate             ``ftkit.studies.learning_rate``
05 augmentation              ``ftkit.studies.augmentation``
06 regularization            ``ftkit.studies.regularizers``
07 unfreezing, shift         ``ftkit.studies.unfreezing_shift``
08 own data, deployment      ``ftkit.studies.own_data``
09 parameter-efficient       ``ftkit.studies.parameter_efficient``
===========================  ===========================================
"""
