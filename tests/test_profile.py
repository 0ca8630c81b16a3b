import pytest
import yaml

from neurodeploy.errors import ProfileError
from neurodeploy.hardware.profile import PROFILE_DIR, available_profiles, load_profile


def test_builtin_profiles_load_with_sources_and_estimates():
    assert {"loihi1", "loihi2"} <= set(available_profiles())
    l1, l2 = load_profile("loihi1"), load_profile("loihi2")
    assert l1.core.max_neurons == 1024 and l1.system.cores_per_chip == 128
    assert l1.energy_j.synapse_dense == pytest.approx(35.5e-12) and l1.time_s.barrier(3) == pytest.approx(1.0e-6)
    assert not l1.is_estimate("energy_j.synapse_dense")
    assert l2.is_estimate("energy_j.synapse_dense") and l2.is_estimate("core.max_neurons")
    for name in ("loihi1", "loihi2"):
        text = (PROFILE_DIR / f"{name}.yaml").read_text()
        assert "Davies" in text and "SANA-FE" in text  # sources are cited in comments


def _write(tmp_path, mutate):
    raw = yaml.safe_load((PROFILE_DIR / "loihi1.yaml").read_text())
    mutate(raw)
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_custom_profile_from_path(tmp_path):
    path = _write(tmp_path, lambda raw: raw["core"].update(max_neurons=256))
    assert load_profile(str(path)).core.max_neurons == 256


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r["core"].update(max_nerons=5), "unknown key(s) core.max_nerons"),
        (lambda r: r.update(colour="red"), "unknown key(s) colour"),
        (lambda r: r["core"].update(max_neurons=0), "core.max_neurons = 0 is impossible"),
        (lambda r: r["core"].update(max_neurons=1.5), "must be an integer"),
        (lambda r: r["energy_j"].update(synapse_dense=-1.0), "energy_j.synapse_dense must be a finite number >= 0"),
        (lambda r: r["time_s"].update(barrier_sync={2: 1e-6}), "time_s.barrier_sync must map numbers of tiles to seconds, with an entry for 1 tile"),
        (lambda r: r["time_s"].update(barrier_sync={1: 1e-6, 0: 1e-7}), "time_s.barrier_sync has the key 0"),
        (lambda r: r["time_s"].update(barrier_sync={1: "slow"}), "time_s.barrier_sync.1 must be a finite number >= 0"),
        (lambda r: r["arithmetic"].update(weight_exponent_min=9), "weight_exponent_min (9) > weight_exponent_max"),
        (lambda r: r["system"].update(mesh_tiles=[1, 1]), "hold fewer than cores_per_chip"),
        (lambda r: r.pop("core"), "missing section or key 'core'"),
        (lambda r: r.update(estimates=["core.nonsense"]), "estimates lists 'core.nonsense'"),
    ],
)
def test_bad_profiles_name_the_key(tmp_path, mutate, message):
    with pytest.raises(ProfileError) as err:
        load_profile(str(_write(tmp_path, mutate)))
    assert message in str(err.value) and "custom.yaml" in str(err.value)


def test_unknown_profile_name_lists_builtins():
    with pytest.raises(ProfileError, match="built-in profiles are kapoho_point, loihi1, loihi2"):
        load_profile("loihi9")


def test_invalid_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("core: [unclosed")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(str(path))
