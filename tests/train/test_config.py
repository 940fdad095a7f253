import pytest

from tailtag.config import load_config, save_config
from tailtag.errors import OptionError


def test_overrides_are_typed():
    config = load_config(None, ["loss=asl", "epochs=3", "views=center,flip", "loss_params={gamma_neg: 4}"])
    assert (config.loss, config.epochs, config.views, config.loss_params) == (
        "asl",
        3,
        ["center", "flip"],
        {"gamma_neg": 4},
    )


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr: 0.01\nsampler: powerset_ros\n")
    config = load_config(path, ["lr=0.02"])
    assert config.lr == 0.02 and config.sampler == "powerset_ros"
    save_config(config, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == config


def test_command_defaults_yield_to_the_file_and_overrides(tmp_path):
    defaults = {"views": ["center", "flip", "full"], "epochs": 7}
    assert load_config(None, [], defaults=defaults).views == ["center", "flip", "full"]
    path = tmp_path / "c.yaml"
    path.write_text("views: [center]\n")
    config = load_config(path, ["epochs=3"], defaults=defaults)
    assert (config.views, config.epochs) == (["center"], 3)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("epochs=abc", "'epochs'.*whole number"),
        ("epochs=2.5", "'epochs'.*whole number"),
        ("mode=fast", "'mode'.*head, finetune"),
        ("lr=-1", "'lr' must be > 0"),
        ("no_such_key=1", "unknown config key.*no_such_key.*valid keys"),
        ("dropout=1.5", "'dropout' must be in"),
        ("amp=maybe", "'amp'.*true or false"),
        ("novalue", "expected key=value"),
    ],
)
def test_bad_values_name_the_key(override, match):
    with pytest.raises(OptionError, match=match):
        load_config(None, [override])


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- a list\n")
    with pytest.raises(OptionError, match="expected a mapping"):
        load_config(path)


@pytest.mark.parametrize("backbone", ["hf-hub:owner/repo", "local-dir:/models/x", "../../x", "no_such_model"])
def test_backbone_must_be_a_plain_timm_name(backbone):
    with pytest.raises(OptionError, match=f"'backbone': .*{backbone!r}"):
        load_config(None, [f"backbone={backbone}"])
