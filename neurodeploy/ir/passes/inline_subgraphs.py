"""Pass 0: inline nested NIRGraph subgraphs into one flat graph.

snnTorch exports recurrent layers (RLeaky, RSynaptic) as subgraphs
``input -> lif -> w_rec -> lif -> output``; other writers nest blocks the same way. A
subgraph node ``G`` is replaced by its nodes, renamed ``G.<name>``; edges into ``G``
(or into ``G.<input name>``) reach the nodes after the subgraph's Input, edges out of
``G`` (or ``G.<output name>``) leave from the nodes before its Output.
"""
from __future__ import annotations

import nir

from ...errors import UnsupportedModelError
from ..stages import FloatGraph


def inline_subgraphs(float_graph: FloatGraph) -> FloatGraph:
    graph = float_graph.graph
    if not any(isinstance(node, nir.NIRGraph) for node in graph.nodes.values()):
        return float_graph
    nodes, edges = _flatten(graph, prefix="")
    flat = nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(graph.metadata or {}), type_check=False)
    return FloatGraph(flat, float_graph.source, float_graph.format, float_graph.fixes, float_graph.notes)


def _flatten(graph: nir.NIRGraph, prefix: str) -> tuple[dict, list]:
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    entries: dict[str, list[str]] = {}  # subgraph name (and name.input) -> nodes fed by its Input(s)
    exits: dict[str, list[str]] = {}  # subgraph name (and name.output) -> nodes feeding its Output(s)
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if not isinstance(node, nir.NIRGraph):
            nodes[full] = node
            continue
        inner_nodes, inner_edges = _flatten(node, prefix=f"{full}.")
        inputs = [n for n, v in node.nodes.items() if isinstance(v, nir.Input)]
        outputs = [n for n, v in node.nodes.items() if isinstance(v, nir.Output)]
        for kind, ports, table in (("Input", inputs, entries), ("Output", outputs, exits)):
            for port in ports:
                port_full = f"{full}.{port}"
                linked = [b for a, b in inner_edges if a == port_full] if kind == "Input" else [a for a, b in inner_edges if b == port_full]
                table[port_full] = linked
                inner_nodes.pop(port_full)
            if len(ports) == 1:
                table[full] = table[f"{full}.{ports[0]}"]
        port_names = {f"{full}.{p}" for p in inputs + outputs}
        edges.extend((a, b) for a, b in inner_edges if a not in port_names and b not in port_names)
        nodes.update(inner_nodes)
    for src, dst in graph.edges:
        src_full, dst_full = f"{prefix}{src}", f"{prefix}{dst}"
        sources = exits.get(src_full, [src_full])
        targets = entries.get(dst_full, [dst_full])
        for a in sources:
            for b in targets:
                if a not in nodes or b not in nodes:
                    raise UnsupportedModelError(f"edge ({src!r}, {dst!r}) refers to a node the graph lacks")
                edges.append((a, b))
    return nodes, list(dict.fromkeys(edges))
