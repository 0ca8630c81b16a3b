"""Reading NIR files: strict first, then a tolerant load that repairs other tools' quirks."""
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from neurodeploy.errors import ModelLoadError
from neurodeploy.frontends import load_model
from neurodeploy.frontends.nir_file import load_nir_file
from neurodeploy.ir.passes.normalise import normalise
from neurodeploy.neurons import Reset

from netgen import random_nir_graph

# A copy of ../shared/conformance/nir-paper-lif (NIR paper data, BSD-3-Clause; see its README)
CONFORMANCE = Path(__file__).resolve().parent / "data" / "nir-paper-lif"


def write_raw(path, nodes: dict, edges, version="0.0.1"):
    """A NIR file written node by node with h5py, as older writers (Norse, Rockpool) did."""
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=version)
        node = f.create_group("node")
        node.create_dataset("type", data="NIRGraph")
        group = node.create_group("nodes")
        for name, fields in nodes.items():
            g = group.create_group(name)
            for key, value in fields.items():
                g.create_dataset(key, data=value)
        node.create_dataset("edges", data=np.array([[a.encode(), b.encode()] for a, b in edges]))
    return path


def test_current_nir_files_load_without_fixes(tmp_path):
    graph = random_nir_graph(np.random.default_rng(0), [5, 4, 3])
    nir.write(tmp_path / "net.nir", graph)
    loaded = load_nir_file(tmp_path / "net.nir")
    assert loaded.fixes == () and set(loaded.graph.nodes) == set(graph.nodes)


def test_batch_dimensions_and_missing_fields_are_repaired_and_listed(tmp_path):
    path = write_raw(
        tmp_path / "old.nir",
        {
            "input": {"type": "Input", "shape": np.array([1, 4])},
            "fc": {"type": "Affine", "weight": np.ones((3, 4)) * 0.5, "bias": np.zeros(3)},
            "lif": {"type": "LIF", "tau": np.full((1, 3), 0.01), "v_leak": np.zeros((1, 3)), "v_threshold": np.ones((1, 3))},
            "output": {"type": "Output", "shape": np.array([1, 3])},
        },
        [("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    with pytest.raises((TypeError, ValueError)):
        nir.read(str(path))  # what users meet with nir 1.0.8
    loaded = load_nir_file(path)
    fixes = "\n".join(loaded.fixes)
    assert "node 'lif' (LIF) field tau: removed batch dimension (1, 3) -> (3,)" in fixes
    assert "node 'input' (Input): removed batch dimension from shape [1, 4] -> [4]" in fixes
    assert "node 'output' (Output): removed batch dimension" in fixes
    assert "node 'lif' (LIF): missing field r, set to 1" in fixes
    assert "missing field v_reset" in fixes
    net = normalise(loaded, dt=1e-3)
    assert net.input_shape == (4,) and net.layers[0].n_out == 3


def test_paper_lif_written_by_norse_loads(tmp_path):
    loaded = load_model(CONFORMANCE / "lif_norse.nir")
    assert isinstance(loaded.graph.nodes["1"], nir.LIF)
    assert float(loaded.graph.nodes["1"].tau[0]) == pytest.approx(2.5e-3)


def test_metadata_survives_a_file_round_trip(tmp_path):
    graph = random_nir_graph(np.random.default_rng(1), [5, 4], kinds=["LIF"])
    graph.nodes["neuron0"].metadata = {"reset": "subtract", "reset_delay": True}
    nir.write(tmp_path / "net.nir", graph)
    assert normalise(load_nir_file(tmp_path / "net.nir")).layers[0].neurons.reset is Reset.SUBTRACT


@pytest.mark.parametrize(
    "content, message",
    [
        (b"this is not a model", "not a NIR file"),
        (b"", "not a NIR file"),
    ],
)
def test_not_nir(tmp_path, content, message):
    path = tmp_path / "model.nir"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        load_model(path)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        load_model(tmp_path / "absent.nir")
    other = tmp_path / "weights.bin"
    other.write_bytes(b"\x00\x01\x02")
    with pytest.raises(ModelLoadError, match="cannot tell what it is"):
        load_model(other)


def test_hdf5_without_nir_content(tmp_path):
    path = tmp_path / "data.nir"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.ones(3))
    with pytest.raises(ModelLoadError, match="without a 'node' group"):
        load_nir_file(path)


# --------------------------------------------------------------------------- third-party quirks
def write_tree(path, tree: dict, version: str | None = None):
    """A NIR file written group by group with h5py, exactly as given (older writers'
    layouts, which nir.write no longer produces)."""

    def put(group, data):
        for key, value in data.items():
            if isinstance(value, dict):
                put(group.create_group(key), value)
            else:
                group.create_dataset(key, data=value)

    with h5py.File(path, "w") as f:
        if version is not None:
            f.create_dataset("version", data=version)
        put(f.create_group("node"), tree)
    return path


def graph_tree(nodes: dict, edges, edge_dtype="bytes"):
    data = np.array([[a, b] for a, b in edges]) if edge_dtype == "int" else np.array([[a.encode(), b.encode()] for a, b in edges])
    return {"type": "NIRGraph", "nodes": nodes, "edges": data}


def deploys_on_every_backend(path, input_shape):
    """Compile the loaded file and run it on float, cpu and (bit-exact) Lava."""
    from neurodeploy.backends.compare import compare_runs
    from neurodeploy.backends.cpu import run_cpu
    from neurodeploy.backends.lava_backend import run_lava
    from neurodeploy.hardware.profile import load_profile
    from neurodeploy.ir.passes import CompileOptions, compile_network

    graph = load_nir_file(path)
    compiled = compile_network(graph, CompileOptions(profile=load_profile("loihi2"), dt=1e-3))
    assert compiled.normalised.input_shape == tuple(input_shape)
    x = (np.random.default_rng(0).random((15, 2, int(np.prod(input_shape)))) < 0.3).astype(np.int32)
    cpu = run_cpu(compiled.quantised, x, record_spikes=True, record_state=True)
    lava = run_lava(compiled.quantised, x, record_spikes=True, record_state=True)
    assert compare_runs(lava, cpu, [layer.name for layer in compiled.quantised.layers])["passed"]
    return graph


@pytest.mark.lava
def test_sinabs_style_cnn_with_scalar_parameters_and_missing_shapes(tmp_path):
    """Sinabs: 0-d neuron parameters (r=1, tau in steps), Conv2d without input_shape,
    SumPool2d with an int kernel, Flatten without input_type; no batch dims (ignore_dims)."""
    rng = np.random.default_rng(0)
    path = write_tree(tmp_path / "sinabs.nir", graph_tree(
        {
            "input": {"type": "Input", "shape": np.array([2, 8, 8])},
            "conv": {"type": "Conv2d", "weight": rng.normal(0, 0.5, (4, 2, 3, 3)), "bias": np.zeros(4), "stride": np.array([1, 1]),
                     "padding": np.array([1, 1]), "dilation": np.array([1, 1]), "groups": 1},
            "iaf": {"type": "IF", "r": np.array(1.0), "v_threshold": np.array(1.0)},
            "pool": {"type": "SumPool2d", "kernel_size": np.array(2), "stride": np.array(2), "padding": np.array([0, 0])},
            "flat": {"type": "Flatten", "start_dim": 0, "end_dim": -1},
            "fc": {"type": "Affine", "weight": rng.normal(0, 0.3, (5, 64)), "bias": np.zeros(5)},
            "lif": {"type": "LIF", "tau": np.array(10e-3), "r": np.array(1.0), "v_leak": np.array(0.0), "v_threshold": np.array(1.0)},
            "output": {"type": "Output", "shape": np.array([5])},
        },
        [("input", "conv"), ("conv", "iaf"), ("iaf", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "lif"), ("lif", "output")],
    ), version="1.0.4")
    graph = deploys_on_every_backend(path, (2, 8, 8))
    fixes = "\n".join(graph.fixes)
    assert "node 'conv' (Conv2d): missing input_shape, set to [8, 8]" in fixes
    assert "node 'iaf' (IF) field v_threshold: one value 1 for the layer, broadcast to shape [4, 8, 8]" in fixes
    assert "node 'pool' (SumPool2d): kernel_size 2 -> [2, 2]" in fixes
    assert "node 'flat' (Flatten): missing input_type, set to [4, 4, 4]" in fixes
    assert "node 'lif' (LIF) field tau: one value 0.01 for the layer, broadcast to shape [5]" in fixes


@pytest.mark.lava
def test_lava_dl_style_cubalif_with_python_scalar_parameters(tmp_path):
    """lava-dl's NIR writer (netx/nir_lava.py, an unmerged 2023 branch) and the NIR repo's
    Lava example: numbered nodes, CubaLIF parameters as Python floats (0-d datasets) from the
    12-bit decays (tau = dt / decay), r = tau_mem / dt, w_in = tau_syn / dt, no v_reset."""
    dt, du, dv = 1e-3, 410 / 4096, 205 / 4096
    tau_syn, tau_mem = dt / du, dt / dv
    path = write_tree(tmp_path / "lava_dl.nir", graph_tree(
        {
            "0": {"type": "Input", "shape": np.array([4])},
            "1": {"type": "Affine", "weight": np.random.default_rng(2).integers(-128, 128, (3, 4)) / 64.0, "bias": np.zeros(3)},
            "2": {"type": "CubaLIF", "tau_syn": tau_syn, "tau_mem": tau_mem, "r": tau_mem / dt, "v_leak": 0.0,
                  "v_threshold": 80 / 64.0, "w_in": tau_syn / dt},
            "3": {"type": "Output", "shape": np.array([3])},
        },
        [("0", "1"), ("1", "2"), ("2", "3")],
    ), version="0.2.0")
    graph = deploys_on_every_backend(path, (4,))
    fixes = "\n".join(graph.fixes)
    for field in ("tau_syn", "tau_mem", "r", "v_threshold", "w_in"):
        assert f"node '2' (CubaLIF) field {field}: one value" in fixes, fixes
    assert "missing field v_reset" in fixes


@pytest.mark.lava
def test_nir_0_0_6_layout_list_nodes_integer_edges_output_without_shape(tmp_path):
    path = write_tree(tmp_path / "old.nir", graph_tree(
        {
            "0": {"type": "Input", "shape": np.array([3])},
            "1": {"type": "Affine", "weight": np.full((2, 3), 0.8), "bias": np.zeros(2)},
            "2": {"type": "LIF", "tau": np.full(2, 0.01), "r": np.full(2, 10.0), "v_leak": np.zeros(2), "v_threshold": np.ones(2)},
            "3": {"type": "Output"},
        },
        [(0, 1), (1, 2), (2, 3)],
        edge_dtype="int",
    ))
    graph = deploys_on_every_backend(path, (3,))
    assert "node '3' (Output): missing shape, set to [2] from '2'" in graph.fixes
    assert any("missing field v_reset" in fix for fix in graph.fixes)


@pytest.mark.lava
def test_rockpool_style_batch_and_time_dims_and_subgraph_with_wrong_input_size(tmp_path):
    """Rockpool: Input [1, 3] and Output [1, 1, 4] (batch, time), CubaLIF without w_in
    and v_reset, and a subgraph whose Input says 12 where its neurons are 6 wide."""
    rng = np.random.default_rng(1)
    n = 6
    cuba = {
        "type": "CubaLIF",
        "tau_syn": np.full(n, 5e-3),
        "tau_mem": np.full(n, 1e-2),
        "r": np.full(n, 19.0),
        "v_leak": np.zeros(n),
        "v_threshold": np.ones(n),
    }
    hidden = graph_tree(
        {"input": {"type": "Input", "shape": np.array([12])}, "lif": cuba, "output": {"type": "Output", "shape": np.array([n])}},
        [("input", "lif"), ("lif", "output")],
    )
    path = write_tree(
        tmp_path / "rockpool.nir",
        graph_tree(
            {
                "input": {"type": "Input", "shape": np.array([1, 3])},
                "0_LinearTorch": {"type": "Linear", "weight": rng.normal(0, 1.5, (n, 3))},
                "hidden": hidden,
                "1_LinearTorch": {"type": "Linear", "weight": rng.normal(0, 1.0, (4, n))},
                "2_LIFTorch": {
                    **cuba,
                    "tau_syn": np.full(4, 5e-3),
                    "tau_mem": np.full(4, 1e-2),
                    "r": np.full(4, 19.0),
                    "v_leak": np.zeros(4),
                    "v_threshold": np.ones(4),
                },
                "output": {"type": "Output", "shape": np.array([1, 1, 4])},
            },
            [
                ("input", "0_LinearTorch"),
                ("0_LinearTorch", "hidden.input"),
                ("hidden.output", "1_LinearTorch"),
                ("1_LinearTorch", "2_LIFTorch"),
                ("2_LIFTorch", "output"),
            ],
        ),
        version="1.0.4",
    )
    with pytest.raises((ValueError, TypeError, KeyError)):
        nir.read(str(path), type_check=False)  # nir checks nested graphs even then
    graph = deploys_on_every_backend(path, (3,))
    fixes = "\n".join(graph.fixes)
    assert "node 'input' (Input): removed batch dimension from shape [1, 3] -> [3]" in fixes
    assert "node 'output' (Output): removed batch dimension from shape [1, 1, 4] -> [4]" in fixes
    assert "node 'hidden.input' (Input): shape [12] contradicts neuron layer 'hidden.lif' of shape [6]" in fixes
    assert "node '2_LIFTorch' (CubaLIF): missing field w_in, set to 1" in fixes


@pytest.mark.lava
def test_subgraph_edge_naming_a_node_by_prefix_and_unknown_keys(tmp_path):
    """The NIR paper's *_subgraph.nir files say 'lif' for node 'lif1'; writers add keys
    that are no field of the node type."""
    inner = graph_tree(
        {
            "input": {"type": "Input", "shape": np.array([4])},
            "lif1": {"type": "LIF", "tau": np.full(4, 0.01), "r": np.full(4, 10.0), "v_leak": np.zeros(4), "v_threshold": np.ones(4), "v_reset": np.zeros(4)},
            "w_rec": {"type": "Linear", "weight": np.eye(4) * 0.3},
            "output": {"type": "Output", "shape": np.array([4])},
        },
        [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
    )
    path = write_tree(tmp_path / "paper.nir", graph_tree(
        {
            "input": {"type": "Input", "shape": np.array([2])},
            "fc": {"type": "Affine", "weight": np.full((4, 2), 0.9), "bias": np.zeros(4), "producer_note": np.array(1.0)},
            "rnn": inner,
            "output": {"type": "Output", "shape": np.array([4])},
        },
        [("input", "fc"), ("fc", "rnn.input"), ("rnn.output", "output")],
    ))
    graph = deploys_on_every_backend(path, (2,))
    fixes = "\n".join(graph.fixes)
    assert "edge ('input', 'lif') in graph 'rnn': 'lif' is no node; taken to mean 'lif1'" in fixes
    assert "node 'fc' (Affine): dropped 'producer_note'" in fixes


def test_an_edge_to_no_node_is_named(tmp_path):
    path = write_tree(tmp_path / "bad.nir", graph_tree(
        {"input": {"type": "Input", "shape": np.array([2])}, "output": {"type": "Output", "shape": np.array([2])}},
        [("input", "nowhere"), ("input", "output")],
    ))
    with pytest.raises(ModelLoadError, match=r"edge \('input', 'nowhere'\) in the graph names node 'nowhere', which does not exist"):
        load_nir_file(path)
