"""run/consumers.py: the consumer's private settings file (only its user can read it,
never a planted one), and why a foreign consumer received nothing (the error built from
what the broker saw)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from poolbench.run.consumers import complaint, not_consuming_error, write_private


def test_the_settings_file_is_0600_in_a_0700_folder(tmp_path: Path) -> None:
    folder = tmp_path / "poolbench-private-x"
    folder.mkdir(mode=0o755)
    path = folder / "consumer-0.settings.json"
    write_private(path, '{"smtp_password": "s3cret"}')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert path.read_text() == '{"smtp_password": "s3cret"}'


def test_an_existing_file_or_link_there_is_refused_not_written_through(tmp_path: Path) -> None:
    folder = tmp_path / "private"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("")
    os.symlink(elsewhere, folder / "consumer-0.settings.json")
    with pytest.raises(FileExistsError):
        write_private(folder / "consumer-0.settings.json", "secret")
    assert elsewhere.read_text() == ""


LOG = (
    "starting\n"
    "%3|1765000000.123|ERROR|rdkafka#consumer-1| [thrd:main]: connection refused once\n"
    'kafka: KafkaError{code=UNKNOWN_TOPIC_OR_PART,val=3,str="Subscribed topic not available: '
    'email-queue: Broker: Unknown topic or partition"}\n'
)


def test_the_consumers_complaint_about_its_topic_comes_before_any_other_error() -> None:
    said = complaint(LOG)
    assert said is not None and "Subscribed topic not available: email-queue" in said
    assert complaint("connected\nsend failed: timeout\n") == "send failed: timeout"
    assert complaint("all good\n") is None


def test_a_group_joined_for_another_topic_is_named_with_what_it_joined_for() -> None:
    text = not_consuming_error(
        group="g-1",
        topic="email-queue-ab12-1",
        joined=frozenset({"email-queue"}),
        known=True,
        output=LOG,
    )
    assert text.startswith(
        "group g-1 has no member on topic email-queue-ab12-1 "
        "(does the consumer subscribe to `{topic}`?): its members subscribed to email-queue"
    )
    assert "the consumer said: " in text and "Subscribed topic not available" in text


def test_a_group_nobody_joined_asks_about_the_group_placeholder() -> None:
    text = not_consuming_error(group="g-1", topic="t-1", joined=None, known=True, output="")
    assert "group g-1 has no member on topic t-1" in text
    assert "no consumer joined group g-1 (does it use `{group}`?)" in text
    assert "said" not in text


def test_a_group_on_the_right_topic_or_an_unknowing_broker_says_not_consuming() -> None:
    joined = not_consuming_error(
        group="g", topic="t", joined=frozenset({"t"}), known=True, output=""
    )
    assert joined.startswith("not consuming: no email reached the sink within 20s")
    unknown = not_consuming_error(group="g", topic="t", joined=None, known=False, output="")
    assert "does the consumer subscribe to `{topic}` in `{group}`?" in unknown
