from __future__ import annotations

import pytest

import seknet
from seknet.core.attention import ALL_CHOICES, Choice
from seknet.core.space import arch_from_yaml


def test_choice_string_round_trip():
    """Every one of the 8 choices parses to a Choice whose str is the same text."""
    assert [str(Choice.parse(c)) for c in ALL_CHOICES] == list(ALL_CHOICES)
    assert Choice.parse("se16") == Choice("se", 16) and Choice.parse("sk3") == Choice("sk", 3)


@pytest.mark.parametrize("bad", ["se5", "sk9", "cbam", "SE16", "se", "sk1", "", "none1", 16])
def test_unknown_choice_names_valid_values(bad):
    """An unknown choice raises one ValueError that lists the valid choices."""
    with pytest.raises(ValueError, match=r"unknown choice .*none\|se4\|se8\|se16\|se32\|sk2\|sk3\|sk4"):
        Choice.parse(bad)


def test_parse_and_str(digits):
    """space.parse(s) gives one Choice per stage and str() gives s back."""
    arch = digits.parse("se16-none-sk3-se4")
    assert arch.choices == (Choice("se", 16), Choice(), Choice("sk", 3), Choice("se", 4))
    assert str(arch) == "se16-none-sk3-se4"


@pytest.mark.parametrize("bad", ["none-none-none", "none-none-none-none-none", "se16"])
def test_wrong_number_of_stages(digits, bad):
    """A wrong stage count names both counts."""
    with pytest.raises(ValueError, match=r"has \d stage choice\(s\) but space 'digits' has 4 stages"):
        digits.parse(bad)


def test_bad_choice_names_its_stage(digits):
    """The error says which stage holds the unknown choice."""
    with pytest.raises(ValueError, match=r"stage 2: unknown choice 'sk9'"):
        digits.parse("none-none-sk9-none")


def test_yaml_round_trip_is_lossless(digits, tmp_path):
    """An arch written with to_yaml loads back equal, space included, and rebuilds the same model."""
    for arch in digits.archs()[::97]:
        assert arch_from_yaml(arch.to_yaml()) == arch
    arch = digits.parse("sk4-se32-none-se8")
    f = tmp_path / "arch.yaml"
    f.write_text(arch.to_yaml())
    back = seknet.load_arch(f)
    assert back == arch and back.space == digits
    assert seknet.count(back) == seknet.count(arch)
    assert sum(p.numel() for p in seknet.build_model(back).parameters()) == seknet.count(arch).params


def test_bad_arch_files(tmp_path):
    """A missing, malformed or incomplete arch file gives a ValueError naming the file."""
    with pytest.raises(ValueError, match="no such arch file"):
        seknet.load_arch(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("arch: [unclosed")
    with pytest.raises(ValueError, match=r"bad.yaml: malformed YAML at line \d+"):
        seknet.load_arch(bad)
    bad.write_text("arch: none-none\n")
    with pytest.raises(ValueError, match="a mapping with the keys 'arch' and 'space'"):
        seknet.load_arch(bad)
