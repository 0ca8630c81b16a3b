"""Reading NIR files: strict first, then a tolerant load that repairs other tools' quirks."""
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from netgen import random_nir_graph
from neurodeploy.errors import ModelLoadError
from neurodeploy.frontends import load_model
from neurodeploy.frontends.nir_file import load_nir_file
from neurodeploy.ir.passes.normalise import normalise

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
    assert normalise(load_nir_file(tmp_path / "net.nir")).layers[0].neurons.reset == "subtract"


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
