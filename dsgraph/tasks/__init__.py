"""Training tasks: node classification and recommendation (BPR, full-ranking metrics).

Import submodules directly (``dsgraph.tasks.registry.build_task``); this package stays light.
"""
