"""The search page's state: URL query strings in the REST API's words, the search
box's field=value syntax, and what cat.search gets from them."""

from __future__ import annotations

import pytest

from catalog.errors import BadRequest
from widgets.webapp.state import (
    SearchState,
    from_query_string,
    search_arguments,
    split_box,
    to_query_string,
)


def test_query_string_round_trips() -> None:
    state = SearchState(
        text='rock "pore network" -raw size=>1GB',
        filters={"modality": ("CT", "MR"), "project": (r"a\,b",)},
        page=4,
    )
    query = to_query_string(state)
    assert from_query_string(query) == state
    assert from_query_string("?" + query) == state
    assert "page=5" in query  # pages count from 1 in the URL


def test_rest_style_query_strings_are_states() -> None:
    state = from_query_string("q=sand&modality=CT&modality=MR&voxel_size=1um..5um&page=2")
    assert state.text == "sand"
    assert state.filters == {"modality": ("CT", "MR"), "voxel_size": ("1um..5um",)}
    assert state.page == 1
    args = search_arguments(state)
    assert args.text == "sand"
    assert args.filters == {"modality": ["CT", "MR"], "voxel_size": ("1um", "5um")}


@pytest.mark.parametrize("page", ["0", "-3", "x", "", "٣"])
def test_a_bad_page_is_the_first(page: str) -> None:
    assert from_query_string(f"page={page}").page == 0


def test_box_words_and_fields_split() -> None:
    words, fields = split_box('granite  modality=CT "thin section" name="a b*" size=<2GB')
    assert words == 'granite "thin section"'
    assert fields == {"modality": ["CT"], "name": ["a b*"], "size": ["<2GB"]}


def test_box_fields_and_facets_of_one_field_are_either() -> None:
    state = SearchState(text="modality=CT", filters={"modality": ("MR",)})
    assert search_arguments(state).filters == {"modality": ["CT", "MR"]}


def test_facet_values_are_encoded_and_read_back() -> None:
    state = SearchState().with_values("project", ["a,b", "c..d", "plain"])
    assert state.chosen("project") == ["a,b", "c..d", "plain"]
    assert search_arguments(state).filters == {"project": ["a,b", "c..d", "plain"]}
    assert SearchState(page=3).with_values("tags", ["x"]).page == 0  # a new filter: page 1
    assert "tags" not in SearchState(filters={"tags": ("x",)}).with_values("tags", []).filters


def test_filters_the_rest_api_refuses_are_refused() -> None:
    with pytest.raises(BadRequest, match="not a filter"):
        search_arguments(from_query_string("sort_by=name"))
    with pytest.raises(BadRequest, match="range"):
        search_arguments(SearchState(filters={"size": ("1..2", "3")}))
