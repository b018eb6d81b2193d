"""Running the model: the one run path (:mod:`~experiments.engine.run`), designs, batch tasks, executors, the
batch engine, the cluster recipe and reruns."""
