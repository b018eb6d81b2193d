"""Result directories on disk: one run (:mod:`~experiments.store.run_dir`), a batch
(:mod:`~experiments.store.batch_dir`), and the atomic writes and provenance they share
(:mod:`~experiments.store.common`)."""
