from __future__ import annotations

import string
from pathlib import Path

import pytest

from poolbench.consumer.templates import CompiledTemplate, TemplateSet
from poolbench.errors import ConfigError, UnknownTemplateError
from poolbench.wire import EVENT_TYPES
from tests.consumer.events import make_event


def test_builtin_set_has_plain_and_one_per_event_type() -> None:
    names = TemplateSet.load(None).names
    assert names == {"plain"} | EVENT_TYPES


@pytest.mark.parametrize("name", sorted({"plain"} | EVENT_TYPES))
def test_each_builtin_renders_the_id_and_name_in_both_parts(name: str) -> None:
    event = make_event(id="id-42", template=name, data={"name": "Ada"})
    rendered = TemplateSet.load(None).render(event)
    assert rendered.subject == "Hello"
    for part in (rendered.text, rendered.html):
        assert "id-42" in part
        assert "Ada" in part
        assert "$" not in part
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>")


def test_data_values_fill_placeholders_and_html_is_escaped() -> None:
    event = make_event(
        template="order_confirmation",
        data={"name": "<Ada & Co>", "order_id": 7, "total": 12.5, "items": None},
    )
    rendered = TemplateSet.load(None).render(event)
    assert "Hello <Ada & Co>," in rendered.text
    assert "order 7." in rendered.text
    assert "Total: 12.5" in rendered.text
    assert "Items: \n" in rendered.text  # None renders empty
    assert "&lt;Ada &amp; Co&gt;" in rendered.html
    assert "<Ada" not in rendered.html


def test_missing_keys_render_empty() -> None:
    rendered = TemplateSet.load(None).render(make_event(template="password_reset"))
    assert "Hello ,\n" in rendered.text
    assert 'href=""' in rendered.html


def test_message_fields_win_over_data() -> None:
    rendered = TemplateSet.load(None).render(make_event(id="real", data={"id": "fake"}))
    assert "Message real" in rendered.text
    assert "fake" not in rendered.text


def test_unknown_template_is_a_permanent_lookup_error() -> None:
    with pytest.raises(UnknownTemplateError, match="'nope'"):
        TemplateSet.load(None).render(make_event(template="nope"))


def test_folder_overrides_a_part_and_adds_a_template(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("Custom $name: $${price} for ${id}\r\n", encoding="utf-8")
    (tmp_path / "invoice.txt").write_text("Invoice ${number}\n", encoding="utf-8")
    (tmp_path / "invoice.html").write_text("<p>Invoice ${number}</p>", encoding="utf-8")
    (tmp_path / "README").write_text("not a template", encoding="utf-8")
    templates = TemplateSet.load(tmp_path)
    assert "invoice" in templates.names
    plain = templates.render(make_event(id="x1", data={"name": "Bo"}))
    assert plain.text == "Custom Bo: ${price} for x1\n"
    assert "Message x1" in plain.html  # the built-in HTML part is kept
    invoice = templates.render(make_event(template="invoice", data={"number": "N-1"}))
    assert (invoice.text, invoice.html) == ("Invoice N-1\n", "<p>Invoice N-1</p>")


def test_a_new_template_needs_both_parts(tmp_path: Path) -> None:
    (tmp_path / "lonely.html").write_text("<p>hi</p>", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"missing lonely\.txt"):
        TemplateSet.load(tmp_path)


def test_missing_folder_and_stray_dollar_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        TemplateSet.load(tmp_path / "absent")
    (tmp_path / "plain.txt").write_text("ok\ncosts 5$ now\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"plain\.txt: line 2: stray"):
        TemplateSet.load(tmp_path)


def test_compiled_template_matches_string_template() -> None:
    source = "a ${x} b $y c $$ d ${x}${y}"
    compiled = CompiledTemplate.compile(source, name="t")
    values = {"x": "1", "y": "2"}

    assert compiled.render(values) == string.Template(source).substitute(values)
    assert compiled.render({}) == "a  b  c $ d "
