"""The version check of the heavy extras: a bad installed pair is a typed error naming the pin."""

from __future__ import annotations

import pytest

from langchain_memos import _extras
from langchain_memos._extras import check_extra, conflicts
from langchain_memos.activation.errors import ActivationDependencyError
from langchain_memos.errors import EngineUnavailableError
from langchain_memos.parametric.errors import ParametricDependencyError


def _no_requirements(dist: str) -> list[str]:
    return []


def test_a_version_outside_our_range_names_the_range_as_the_fix() -> None:
    found = conflicts(["transformers>=4.56,<5.24", "peft>=0.18"], {"transformers": "5.25.0", "peft": "0.21.2"},
                      _no_requirements)
    assert len(found) == 1
    assert found[0].startswith("transformers 5.25.0 is installed, but langchain-memos needs")
    assert found[0].endswith("fix: pip install 'transformers<5.24,>=4.56'")


def test_a_pair_that_one_package_declares_incompatible_is_reported_with_its_name() -> None:
    declared = {"peft": ["transformers>=9.0", "numpy>=1.17", "torch>=1.13; extra == 'gpu'"]}
    found = conflicts(["peft>=0.18", "transformers>=4.56"], {"peft": "0.21.2", "transformers": "5.24.0"},
                      lambda dist: declared.get(dist, []))
    assert found == ["transformers 5.24.0 is installed, but peft needs transformers>=9.0; "
                     "fix: pip install 'transformers>=9.0'"]  # numpy is not an installed package of the extra


def test_missing_packages_and_fitting_versions_are_not_conflicts() -> None:
    assert conflicts(["peft>=0.18", "transformers>=4.56"], {"transformers": "5.24.0"}, _no_requirements) == []


def test_the_installed_extras_of_this_environment_fit() -> None:
    assert _extras.extra_conflicts("parametric") == ()
    assert _extras.extra_conflicts("activation") == ()


@pytest.mark.parametrize("extra,error", [("parametric", ParametricDependencyError),
                                         ("activation", ActivationDependencyError)])
def test_the_layers_refuse_to_import_a_bad_pair(monkeypatch: pytest.MonkeyPatch, extra: str, error: type) -> None:
    bad = ("transformers 5.24.0 is installed, but peft needs transformers<5.24; fix: pip install 'transformers<5.24'",)
    monkeypatch.setattr(_extras, "extra_conflicts", lambda name: bad if name == extra else ())
    if extra == "parametric":
        from langchain_memos.parametric._deps import require

        call = lambda: require("peft")  # noqa: E731
    else:
        from langchain_memos.activation._deps import require_transformers as call
    with pytest.raises(error, match=r"fix: pip install 'transformers<5\.24'") as raised:
        call()
    assert isinstance(raised.value, EngineUnavailableError)
    check_extra("community", error)  # an extra without conflicts passes
