"""GNN models built from torch_geometric.nn layers, chosen by name (see ``registry``).

Import the submodules (``dsgraph.models.registry``, ``dsgraph.models.base``) directly; this
package import stays light.
"""
