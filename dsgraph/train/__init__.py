"""dsgraph.train: the local (single-process) training loop and its parts.

``trainer`` (the loop: ``train``, ``Trainer``, ``evaluate_run``, ``recommend``), ``step``
(``TrainStep``: one step, reused unchanged inside Ray workers), ``run`` (run-folder layout),
``metrics_log`` (JSON lines), ``plots`` (curves.png), ``precision``, ``compression``, ``guard``,
``checkpoint``, ``rng``. Import the submodules directly; this package import stays light.
"""
