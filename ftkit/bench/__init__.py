"""The benchmark: named fine-tuning methods (``recipes``) and the headline table that runs them
over targets, labels per class and seeds (``runner``, the ``ftkit bench`` command)."""
