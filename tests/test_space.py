from __future__ import annotations

import pytest
import yaml

import seknet
from tests.conftest import ROOT, SPACES


def test_shipped_spaces_load():
    """Every file in search_space/ loads, and the four spaces the issues name are there."""
    names = {seknet.load_space(p).name for p in SPACES}
    assert {"digits", "cifar10", "imagenet_resnet50", "imagenet_resnext50"} <= names


def test_digits_space_size(digits):
    """The default space has 4 stages and 8 choices each: 8^4 = 4,096 archs, all distinct."""
    archs = digits.archs()
    assert len(digits.stages) == 4 and len(archs) == 4096 and len(set(archs)) == 4096


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_each_stage_choice_has_distinct_cost(path):
    """Within one stage (others fixed to none), the space's choices give as many different (params, MACs) pairs."""
    space = seknet.load_space(path)
    for i in range(len(space.stages)):
        pairs = set()
        for c in space.choices:
            parts = ["none"] * len(space.stages)
            parts[i] = c
            n = seknet.count(space.parse("-".join(parts)))
            pairs.add((n.params, n.macs))
        assert len(pairs) == len(space.choices), f"stage {i} of {space.name}"


def _write(tmp_path, data):
    p = tmp_path / "space.yaml"
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def _digits_data():
    return yaml.safe_load((ROOT / "search_space" / "digits.yaml").read_text())


def _mutate(data, path, value):
    *keys, last = path
    d = data
    for k in keys:
        d = d[k]
    d[last] = value
    return data


@pytest.mark.parametrize(
    "path,value,message",
    [
        (("colour",), "red", r"unknown key 'colour'; valid keys: name, in_channels"),
        (("stages", 1, "widht"), 48, r"stages\[1\]: unknown key 'widht'"),
        (
            ("sk", "M"),
            2,
            r"\.sk: unknown key 'M'; valid keys: groups, reduction, min_attn_channels",
        ),
        (("stages", 0, "width"), 16, r"stage 0: se32 leaves no hidden unit on 16 channels"),
        (
            ("stages", 2, "block"),
            "dense",
            r"stages\[2\]\.block: unknown block 'dense'; valid: basic\|bottleneck",
        ),
        (("stem",), "vit", r"stem: unknown stem 'vit'; valid: cifar\|imagenet"),
        (
            ("sk", "groups"),
            5,
            r"sk\.groups=5 gives 5 groups that do not divide the 32-channel SK conv",
        ),
        (("stages", 0, "depth"), 0, r"stages\[0\]\.depth: must be a positive integer"),
        (("stages", 0, "width"), "wide", r"stages\[0\]\.width: expected int"),
        (("choices",), ["none", "cbam"], r"choices: unknown choice 'cbam'"),
        (("stages",), [], r"stages: expected a non-empty list"),
    ],
)
def test_bad_space_gives_one_clear_error(tmp_path, path, value, message):
    """Each kind of bad space file raises one ValueError naming the file, the field and the fix."""
    p = _write(tmp_path, _mutate(_digits_data(), path, value))
    with pytest.raises(ValueError, match=message) as e:
        seknet.load_space(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_groups_only_where_they_apply(tmp_path):
    """Groups on a basic block, or a bottleneck too narrow for its 3x3 conv, are refused."""
    with pytest.raises(ValueError, match=r"stages\[1\]: groups and base_width apply to bottleneck blocks only"):
        seknet.load_space(_write(tmp_path, _mutate(_digits_data(), ("stages", 1, "groups"), 4)))
    data = yaml.safe_load((ROOT / "search_space" / "imagenet_resnext50.yaml").read_text())
    data["stages"][0]["base_width"] = 1
    with pytest.raises(
        ValueError,
        match=r"stages\[0\]: width \* base_width = 32 < 64 leaves the 3x3 conv no channels",
    ):
        data["stages"][0]["width"] = 32
        seknet.load_space(_write(tmp_path, data))


def test_malformed_and_missing_files(tmp_path):
    """Malformed YAML names the file and line; a missing file says where spaces live."""
    with pytest.raises(ValueError, match=r"space\.yaml: malformed YAML at line \d+ \(.+\); fix the syntax"):
        seknet.load_space(_write(tmp_path, "name: x\nstages: [\n  {depth: 1\n"))
    with pytest.raises(ValueError, match=r"a space file must be a YAML mapping"):
        seknet.load_space(_write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ValueError, match=r"no such space file; the shipped ones are in search_space/"):
        seknet.load_space(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match=r"missing required key"):
        seknet.load_space(_write(tmp_path, {"stages": [{"depth": 1, "width": 32}]}))


def test_restricted_choices(tmp_path):
    """A space may list fewer choices; archs outside them are refused."""
    data = _mutate(_digits_data(), ("choices",), ["none", "se16", "sk2"])
    space = seknet.load_space(_write(tmp_path, data))
    assert len(space.archs()) == 3**4
    with pytest.raises(ValueError, match=r"choice se4 is not in this space; valid: none\|se16\|sk2"):
        space.parse("se4-none-none-none")
