import pytest

from cyclescan.config import Config, load_config
from cyclescan.errors import ConfigError


def test_defaults_validate_and_roundtrip(tmp_path):
    cfg = Config()
    cfg.validate()
    p = tmp_path / "c.yaml"
    cfg.save(p)
    assert load_config(p) == cfg


def test_overrides_parse_yaml_values():
    cfg = load_config(None, ["train.epochs=3", "data.patch_size=[8, 16, 16]", "train.precision=fp32"])
    assert cfg.train.epochs == 3 and cfg.data.patch_size == [8, 16, 16] and cfg.train.precision == "fp32"


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("train.nope=1", "unknown key"),
        ("nosection.x=1", "unknown section"),
        ("train.epochs=abc", "expected an integer"),
        ("train.epochs=0", "below the minimum"),
        ("loss.gan_mode=wgan", "not one of"),
        ("data.flip_prob=1.5", "above the maximum"),
        ("train.deterministic=3", "true/false"),
        ("data.patch_size=[1,2]", "3 integers"),
    ],
)
def test_bad_overrides(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(None, [override])


def test_unknown_yaml_key(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  epochz: 3\n")
    with pytest.raises(ConfigError, match="train.epochz"):
        load_config(p)


def test_seed_beyond_64_bits_is_a_config_error_not_an_overflow():
    import pytest

    from cyclescan.config import load_config
    from cyclescan.errors import ConfigError

    assert load_config(None, [f"train.seed={2**63 - 1}"]).train.seed == 2**63 - 1
    with pytest.raises(ConfigError, match="train.seed"):
        load_config(None, ["train.seed=99999999999999999999"])
